"""Addressed messages and pairing at storing time (claw.pipeline.inbox, claw.pipeline.pairing)
and what a turn makes of them (claw.pipeline.turns), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from claw.agent.offline import OfflineProvider
from claw.config import Settings, get_settings
from claw.db import Group, Message, Outbox, read_session, write_session
from claw.db.models import utcnow
from claw.pipeline import pairing
from claw.pipeline.inbox import IncomingMessage, StoredMessage, store_message
from claw.pipeline.turns import TurnOutcome, answer_pending, build_turn_input, pending_messages
from tests.support.databases import as_default_database

# turns put the group's folder in its layout (claw.sandbox.layout, claw.safe_fs): a path taken
# from the cwd by mistake must fail the test, not touch the folder pytest runs in
pytestmark = pytest.mark.usefixtures("empty_cwd")

GROUP_CHAT = "-100777"
DM_CHAT = "4242"


@pytest.fixture
def shipped_defaults(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """claw as it ships: pairing on, group chats answered when addressed; the test's database
    is the default one (answer_pending uses it)."""
    monkeypatch.setenv("CLAW_PAIRING", "on")
    monkeypatch.setenv("CLAW_GROUP_RESPOND", "mention")
    monkeypatch.setenv("CLAW_PAIRING_CODE_TTL", "600")
    with as_default_database(db_url, monkeypatch) as url:
        yield url


def receive(incoming: IncomingMessage) -> tuple[StoredMessage, int | None]:
    """What a poll does with one message: store it, and pair its chat if it is new."""
    with write_session() as session:
        stored = store_message(session, incoming)
        return stored, pairing.hold(session, stored, incoming)


def tg(chat: str, sender: str, text: str, external_id: str, **fields: object) -> IncomingMessage:
    return IncomingMessage("telegram", chat, sender, text, f"{chat}:{external_id}", **fields)  # type: ignore[arg-type]


def approve_all(chat: str) -> None:
    with write_session() as session:
        pairing.approve_group(session, f"telegram:{chat}")


def notices(group_id: str) -> list[str]:
    with read_session() as session:
        return list(session.scalars(select(Outbox.text).where(Outbox.group_id == group_id).order_by(Outbox.id)))


def settings(tmp_path: Path) -> Settings:
    return Settings(workspace=tmp_path / "workspace", cooldown=0)  # type: ignore[call-arg]


# ---- addressed -------------------------------------------------------------------------------


def test_in_a_group_only_addressed_messages_are_pending_and_the_rest_is_context(
    shipped_defaults: str, tmp_path: Path
) -> None:
    # Given an approved Telegram group where people talk among themselves, then address claw
    chatter, _ = receive(tg(GROUP_CHAT, "Ann", "lunch at noon?", "1", private=False))
    approve_all(GROUP_CHAT)
    more, _ = receive(tg(GROUP_CHAT, "Ben", "yes, the usual place", "2"))
    asked, _ = receive(tg(GROUP_CHAT, "Ann", "@claw where do we meet?", "3"))
    replied_to, _ = receive(tg(GROUP_CHAT, "Ben", "and when?", "4", mentions_bot=True))

    # Then every message is stored, but only the two that address claw start a turn
    assert (chatter.created, chatter.addressed, more.addressed) == (True, False, False)
    assert not more.starts_turn
    assert asked.starts_turn and replied_to.starts_turn
    with read_session() as session:
        assert [m.text for m in pending_messages(session, f"telegram:{GROUP_CHAT}")] == [
            "@claw where do we meet?", "and when?"]
        # And the turn sees what was said before as its history
        group = session.get(Group, f"telegram:{GROUP_CHAT}")
        assert group is not None and group.respond == "mention"
        turn = build_turn_input(session, settings(tmp_path), group,
                                pending_messages(session, group.id))
    assert [(line.sender, line.text) for line in turn.history] == [
        ("Ann", "lunch at noon?"), ("Ben", "yes, the usual place")]
    assert [line.text for line in turn.new_messages] == ["@claw where do we meet?", "and when?"]

    # When the turn answers
    result = answer_pending(settings(tmp_path), OfflineProvider(), f"telegram:{GROUP_CHAT}")
    # Then it answered the two addressed messages, and nothing is owed any more
    assert (result.outcome, result.answered) == (TurnOutcome.REPLIED, 2)
    assert answer_pending(settings(tmp_path), OfflineProvider(),
                          f"telegram:{GROUP_CHAT}").outcome == TurnOutcome.IDLE


def test_context_said_between_two_addressed_messages_is_in_the_history(
    shipped_defaults: str, tmp_path: Path
) -> None:
    approve_all_later = [tg(GROUP_CHAT, "Ann", "@claw first question", "1", private=False),
                         tg(GROUP_CHAT, "Ben", "side remark", "2"),
                         tg(GROUP_CHAT, "Ann", "@claw second question", "3")]
    for incoming in approve_all_later:
        receive(incoming)
    approve_all(GROUP_CHAT)
    with read_session() as session:
        group = session.get(Group, f"telegram:{GROUP_CHAT}")
        assert group is not None
        pending = pending_messages(session, group.id)
        turn = build_turn_input(session, settings(tmp_path), group, pending)
    assert [m.text for m in pending] == ["@claw first question", "@claw second question"]
    assert [line.text for line in turn.history] == ["side remark"]


def test_a_private_chat_answers_every_message(shipped_defaults: str) -> None:
    stored, _ = receive(tg(DM_CHAT, "Ann", "hello there", "1", private=True))
    assert stored.addressed
    with read_session() as session:
        assert session.get(Group, f"telegram:{DM_CHAT}").respond == "always"  # type: ignore[union-attr]


# ---- pairing ---------------------------------------------------------------------------------


def test_a_new_chat_waits_with_one_pairing_reply_and_nothing_reaches_the_model(
    shipped_defaults: str, tmp_path: Path
) -> None:
    # Given a stranger writing to claw three times
    first, notice = receive(tg(DM_CHAT, "Eve", "hi, who are you?", "1", private=True, chat_name="Eve"))
    second, again = receive(tg(DM_CHAT, "Eve", "hello??", "2"))
    repeat, _ = receive(tg(DM_CHAT, "Eve", "hi, who are you?", "1"))  # the same update again

    # Then the chat waits, its messages are stored, and it got exactly one reply: the code
    assert first.access == "waiting" and not first.starts_turn and not second.starts_turn
    assert notice is not None and again is None and not repeat.created
    with read_session() as session:
        [(row, expired)] = pairing.waiting(session)
    assert (row.group_id, row.chat_name, row.first_sender, row.first_text, expired) == (
        f"telegram:{DM_CHAT}", "Eve", "Eve", "hi, who are you?", False)
    assert len(row.code) == 8 and set(row.code) <= set(pairing.CODE_ALPHABET)
    assert notices(f"telegram:{DM_CHAT}") == [pairing.notice_text(row.code, 600)]
    # And no turn answers it, even one queued by mistake
    result = answer_pending(settings(tmp_path), OfflineProvider(), f"telegram:{DM_CHAT}")
    assert result.outcome == TurnOutcome.IDLE

    # When the owner approves the code (typed in lower case, with a dash)
    with write_session() as session:
        approved = pairing.approve_code(session, f"{row.code[:4]}-{row.code[4:]}".lower())
    assert approved.group_id == f"telegram:{DM_CHAT}"
    # Then both waiting messages are answered, once, by one turn
    result = answer_pending(settings(tmp_path), OfflineProvider(), approved.group_id)
    assert (result.outcome, result.answered) == (TurnOutcome.REPLIED, 2)
    assert notices(approved.group_id)[1:] == ["Eve: hi, who are you?\nEve: hello??"]
    with read_session() as session:
        assert pairing.waiting(session) == []
    # And the code approves nothing any more
    with write_session() as session, pytest.raises(pairing.UnknownCode):
        pairing.approve_code(session, row.code)


def test_an_expired_code_is_refused_and_the_next_message_gets_one_new_code(shipped_defaults: str) -> None:
    _, first_notice = receive(tg(DM_CHAT, "Eve", "hi", "1", private=True))
    with read_session() as session:
        [(row, _)] = pairing.waiting(session)
    old_code = row.code
    # When the code is past its expiry
    with write_session() as session, pytest.raises(pairing.ExpiredCode):
        pairing.approve_code(session, old_code, now=utcnow() + timedelta(seconds=601))
    with write_session() as session:
        session.get(pairing.Pairing, row.group_id).expires_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
    # Then the chat's next message gets one new code, and the one after gets none
    _, second_notice = receive(tg(DM_CHAT, "Eve", "still there?", "2"))
    _, third_notice = receive(tg(DM_CHAT, "Eve", "hello?", "3"))
    assert first_notice is not None and second_notice is not None and third_notice is None
    with read_session() as session:
        [(renewed, expired)] = pairing.waiting(session)
    assert renewed.code != old_code and not expired
    assert len(notices(row.group_id)) == 2


def test_an_unknown_code_approves_nothing(shipped_defaults: str) -> None:
    with write_session() as session, pytest.raises(pairing.UnknownCode):
        pairing.approve_code(session, "ABCDEFGH")


def test_a_waiting_group_is_answered_only_where_it_addressed_claw(
    shipped_defaults: str, tmp_path: Path
) -> None:
    receive(tg(GROUP_CHAT, "Ann", "who added this bot?", "1", private=False, chat_name="Lunch"))
    receive(tg(GROUP_CHAT, "Ben", "@claw hello", "2"))
    with write_session() as session:
        [(row, _)] = pairing.waiting(session)
        pairing.approve_code(session, row.code)
    result = answer_pending(settings(tmp_path), OfflineProvider(), f"telegram:{GROUP_CHAT}")
    assert (result.outcome, result.answered) == (TurnOutcome.REPLIED, 1)
    assert notices(f"telegram:{GROUP_CHAT}")[1:] == ["Ben: @claw hello"]


def test_a_blocked_chat_is_dropped_and_what_it_sent_while_waiting_is_set_aside(shipped_defaults: str) -> None:
    receive(tg(DM_CHAT, "Eve", "hi", "1", private=True))
    with write_session() as session:
        assert pairing.block_group(session, f"telegram:{DM_CHAT}") == 1
    dropped, notice = receive(tg(DM_CHAT, "Eve", "let me in", "2"))
    assert (dropped.created, dropped.id, notice) == (False, 0, None)
    with read_session() as session:
        texts = session.scalars(select(Message.text).where(Message.group_id == f"telegram:{DM_CHAT}",
                                                           Message.role == "user")).all()
        assert texts == ["hi"]
        assert pending_messages(session, f"telegram:{DM_CHAT}") == []
        assert pairing.waiting(session) == []


def test_the_allowlist_pre_approves_and_pairing_off_approves_all(
    shipped_defaults: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAW_TELEGRAM_ALLOWLIST", DM_CHAT)
    get_settings.cache_clear()
    listed, notice = receive(tg(DM_CHAT, "Ann", "hi", "1", private=True))
    assert listed.starts_turn and notice is None
    monkeypatch.setenv("CLAW_PAIRING", "off")
    monkeypatch.delenv("CLAW_TELEGRAM_ALLOWLIST")
    get_settings.cache_clear()
    other, notice = receive(tg("5151", "Bo", "hi", "1", private=True))
    assert other.starts_turn and notice is None
    # And the HTTP channel never pairs
    monkeypatch.setenv("CLAW_PAIRING", "on")
    get_settings.cache_clear()
    pushed, notice = receive(IncomingMessage("http", "team", "al", "hi"))
    assert pushed.starts_turn and notice is None


def test_waiting_for_approval_is_not_claw_being_slow(
    shipped_defaults: str, tmp_path: Path
) -> None:
    # Given a stranger's message that waited an hour for the owner's approval
    receive(IncomingMessage("telegram", DM_CHAT, "Eve", "hi", f"{DM_CHAT}:1",
                            created_at=utcnow() - timedelta(hours=1), private=True))
    approve_all(DM_CHAT)
    # When it is answered right after the approval
    answer_pending(settings(tmp_path), OfflineProvider(), f"telegram:{DM_CHAT}")
    # Then the reply does not apologise for being slow
    assert notices(f"telegram:{DM_CHAT}")[1:] == ["Eve: hi"]


def test_only_polled_chats_can_be_blocked(shipped_defaults: str) -> None:
    receive(IncomingMessage("http", "team", "al", "hi"))
    with write_session() as session, pytest.raises(pairing.NotBlockable):
        pairing.block_group(session, "http:team")


def test_a_chat_approved_while_its_first_message_is_being_stored_gets_no_pairing_code(
    shipped_defaults: str,
) -> None:
    # On PostgreSQL a poll's transaction and the owner's approval run side by side (on SQLite
    # writers take turns, so the approval cannot land in between).
    if not shipped_defaults.startswith("postgresql"):
        pytest.skip("SQLite serialises writers")
    receive(tg(DM_CHAT, "Eve", "hi", "1", private=True))  # the chat waits with a code
    with write_session() as session:
        session.get(pairing.Pairing, f"telegram:{DM_CHAT}").expires_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
    # Given a poll storing the chat's next message (the code has expired: a new one is due)
    with write_session() as poll:
        stored = store_message(poll, tg(DM_CHAT, "Eve", "are you there?", "2"))
        assert stored.access == "waiting"
        # When the owner approves the chat before the poll pairs it
        approve_all(DM_CHAT)
        notice = pairing.hold(poll, stored, tg(DM_CHAT, "Eve", "are you there?", "2"))
    # Then the approved chat is sent no code and lists as waiting nowhere
    assert notice is None
    assert len(notices(f"telegram:{DM_CHAT}")) == 1  # the first code only
    with read_session() as session:
        assert pairing.waiting(session) == []


def test_a_chat_approved_while_its_very_first_message_is_being_stored_gets_no_pairing_code(
    shipped_defaults: str,
) -> None:
    if not shipped_defaults.startswith("postgresql"):
        pytest.skip("SQLite serialises writers")
    with write_session() as session:  # the chat exists (its group row), approved by id
        store_message(session, tg(DM_CHAT, "Eve", "hi", "1", private=True))
        session.execute(pairing.delete(pairing.Pairing))
    with write_session() as poll:
        stored = store_message(poll, tg(DM_CHAT, "Eve", "hello", "2"))
        approve_all(DM_CHAT)
        assert pairing.hold(poll, stored, tg(DM_CHAT, "Eve", "hello", "2")) is None
    with read_session() as session:
        assert pairing.waiting(session) == []

"""claw.pipeline.inbox: storing incoming messages once per (channel, chat, external_id), as text
any database can hold, cut to the channel's cap."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from claw.config import get_settings
from claw.db import Group, Message, read_session, write_session
from claw.db.models import GroupAccess
from claw.pipeline.inbox import IncomingMessage, StoredMessage, cut, store_message


def store(db_url: str, incoming: IncomingMessage) -> StoredMessage:
    with write_session(db_url) as session:
        return store_message(session, incoming)


def message_count(db_url: str) -> int:
    with read_session(db_url) as session:
        return session.scalar(select(func.count()).select_from(Message)) or 0


def test_first_message_of_a_chat_creates_its_group_and_is_stored(db_url: str) -> None:
    # Given an empty database
    # When a WhatsApp message arrives
    stored = store(db_url, IncomingMessage("whatsapp", "123@g.us", "Alice", "hello", "wamid.1"))

    # Then the group exists with the default flags
    assert stored.created is True
    assert stored.group_id == "whatsapp:123@g.us"
    assert stored.priority is False
    with read_session(db_url) as session:
        group = session.get(Group, "whatsapp:123@g.us")
        assert group is not None
        assert (group.channel, group.chat_id, group.priority, group.is_main) == (
            "whatsapp", "123@g.us", False, False)
        # And the message is stored as a pending user message of that group
        message = session.get(Message, stored.id)
        assert message is not None
        assert (message.group_id, message.channel, message.chat_id, message.external_id) == (
            "whatsapp:123@g.us", "whatsapp", "123@g.us", "wamid.1")
        assert (message.role, message.sender, message.text) == ("user", "Alice", "hello")
        assert message.answered_by is None
        assert message.created_at is not None


def test_second_message_reuses_the_group(db_url: str) -> None:
    first = store(db_url, IncomingMessage("http", "team", "alice", "one"))
    second = store(db_url, IncomingMessage("http", "team", "bob", "two"))

    assert second.id > first.id
    with read_session(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Group)) == 1


def test_repeated_external_id_returns_the_first_copy_and_stores_nothing(db_url: str) -> None:
    # Given a stored message
    first = store(db_url, IncomingMessage("whatsapp", "123@g.us", "Alice", "hello", "wamid.7"))

    # When the channel delivers it again (a re-poll, a retried webhook), even with other text
    again = store(db_url, IncomingMessage("whatsapp", "123@g.us", "Alice", "edited", "wamid.7"))

    # Then the first copy's id comes back, marked as not created, and nothing new is stored
    assert again == StoredMessage(first.id, "whatsapp:123@g.us", created=False, priority=False)
    assert message_count(db_url) == 1
    with read_session(db_url) as session:
        assert session.get(Message, first.id).text == "hello"  # type: ignore[union-attr]


def test_same_external_id_on_another_channel_is_another_message(db_url: str) -> None:
    on_http = store(db_url, IncomingMessage("http", "team", "alice", "hi", "42"))
    on_web = store(db_url, IncomingMessage("web", "team", "alice", "hi", "42"))

    assert on_web.created is True
    assert on_web.id != on_http.id
    assert on_web.group_id == "web:team"
    assert message_count(db_url) == 2


def test_messages_without_external_id_are_always_stored(db_url: str) -> None:
    ids = [store(db_url, IncomingMessage("http", "team", "alice", "same text")) for _ in range(3)]

    assert all(s.created for s in ids)
    assert len({s.id for s in ids}) == 3
    assert message_count(db_url) == 3


def test_given_created_at_is_kept(db_url: str) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    stored = store(db_url, IncomingMessage("http", "team", "alice", "hi", created_at=when))

    with read_session(db_url) as session:
        created_at = session.get(Message, stored.id).created_at  # type: ignore[union-attr]
    assert created_at.replace(tzinfo=timezone.utc) == when


def test_created_at_defaults_to_now(db_url: str) -> None:
    before = datetime.now(timezone.utc)
    stored = store(db_url, IncomingMessage("http", "team", "alice", "hi"))

    with read_session(db_url) as session:
        created_at = session.get(Message, stored.id).created_at  # type: ignore[union-attr]
    assert before - timedelta(seconds=1) <= created_at.replace(tzinfo=timezone.utc) <= (
        datetime.now(timezone.utc) + timedelta(seconds=1))


def test_stored_message_reflects_the_groups_priority_flag(db_url: str) -> None:
    # Given a group that was made a priority group after its first message
    store(db_url, IncomingMessage("http", "vip", "alice", "first", "e1"))
    with write_session(db_url) as session:
        session.execute(update(Group).where(Group.id == "http:vip").values(priority=True))

    # When a new message and a duplicate arrive
    new = store(db_url, IncomingMessage("http", "vip", "alice", "second", "e2"))
    duplicate = store(db_url, IncomingMessage("http", "vip", "alice", "first", "e1"))

    # Then both report the flag, so the turn is routed as priority
    assert new.priority is True and new.created is True
    assert duplicate.priority is True and duplicate.created is False
    # And other groups are unaffected
    assert store(db_url, IncomingMessage("http", "team", "bob", "x")).priority is False


def test_same_external_id_in_another_chat_is_another_message(db_url: str) -> None:
    # Given a Telegram message 42 of one chat (Telegram counts message ids per chat)
    first = store(db_url, IncomingMessage("telegram", "-100", "alice", "hi", "42"))

    # When message 42 of another chat arrives, and message 42 of the first chat again
    other = store(db_url, IncomingMessage("telegram", "-200", "bob", "hello", "42"))
    again = store(db_url, IncomingMessage("telegram", "-100", "alice", "hi", "42"))

    # Then the other chat's is a message of its own, and the repeat is the first copy
    assert other.created is True and other.group_id == "telegram:-200" and other.id != first.id
    assert again == StoredMessage(first.id, "telegram:-100", created=False, priority=False)
    assert message_count(db_url) == 2


def test_created_at_in_another_timezone_is_kept_as_the_same_instant(db_url: str) -> None:
    when = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))

    stored = store(db_url, IncomingMessage("http", "team", "alice", "hi", created_at=when))

    with read_session(db_url) as session:
        created_at = session.get(Message, stored.id).created_at  # type: ignore[union-attr]
    # naive values from SQLite hold UTC (claw.pipeline.turns._as_aware reads them so)
    assert created_at.replace(tzinfo=timezone.utc) == when


def stored_text(db_url: str, stored: StoredMessage) -> str:
    with read_session(db_url) as session:
        return session.get(Message, stored.id).text  # type: ignore[union-attr]


def test_nul_and_lone_surrogates_of_a_polled_message_are_replaced_not_refused(db_url: str) -> None:
    # Given a WhatsApp message holding NUL and a lone surrogate (which PostgreSQL, SQLite's
    # driver and a JSON answer cannot take)
    incoming = IncomingMessage("whatsapp", "1@g.us", "Al\x00ice", "a\x00b\ud800c", "wamid.\x00")

    # When it is stored
    stored = store(db_url, incoming)

    # Then it is kept, with U+FFFD where the unstorable characters were
    assert stored_text(db_url, stored) == "a\ufffdb\ufffdc"
    with read_session(db_url) as session:
        message = session.get(Message, stored.id)
        assert message is not None and (message.sender, message.external_id) == ("Al\ufffdice", "wamid.\ufffd")
    # And a repeat of it is recognised as the same message
    assert store(db_url, incoming).created is False


@pytest.fixture
def short_caps(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CLAW_POLL_MAX_TEXT", "100")
    monkeypatch.setenv("CLAW_API_MAX_TEXT", "300")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_polled_message_over_the_cap_is_cut_with_a_visible_marker(db_url: str, short_caps: None) -> None:
    # Given a Telegram message of 1000 characters and a cap of 100 for polled channels
    text = "".join(str(i % 10) for i in range(1000))

    # When it is stored
    kept = stored_text(db_url, store(db_url, IncomingMessage("telegram", "-1", "alice", text, "1")))

    # Then it keeps its start, says it was cut, and fits the cap
    assert len(kept) == 100
    assert kept.startswith("0123456789")
    assert kept.endswith("[… cut: the message had 1000 characters, claw keeps 100]")


def test_each_channel_has_its_own_cap(db_url: str, short_caps: None) -> None:
    text = "x" * 250
    # the API's channels: the API refuses longer text with a 422, so 250 fits its cap of 300
    assert stored_text(db_url, store(db_url, IncomingMessage("http", "c", "alice", text))) == text
    # a polled channel's cap is 100
    assert len(stored_text(db_url, store(db_url, IncomingMessage("whatsapp", "c", "alice", text)))) == 100
    # a text at the cap is kept whole
    assert stored_text(db_url, store(db_url, IncomingMessage("telegram", "c", "a", "y" * 100))) == "y" * 100


@pytest.mark.parametrize(("channel", "chat_id", "private"), [
    ("http", "team", None), ("terminal", "main", None), ("web", "page", None),
    ("telegram", "5151", True), ("whatsapp", "15550001111@s.whatsapp.net", None),
])
def test_a_private_chat_set_to_mention_still_answers_every_message(
    db_url: str, channel: str, chat_id: str, private: bool | None
) -> None:
    # Given a one-to-one chat (or an API channel) whose owner set it to answer on mention only
    store(db_url, IncomingMessage(channel, chat_id, "alice", "first", private=private))
    with write_session(db_url) as session:
        session.execute(update(Group).where(Group.chat_id == chat_id).values(respond="mention"))
    # When a message that names no trigger arrives
    stored = store(db_url, IncomingMessage(channel, chat_id, "alice", "what time is it?", private=private))
    # Then it still starts a turn: nothing else would ever answer it
    assert stored.addressed is True


def test_a_group_chat_set_to_mention_answers_only_when_addressed(db_url: str) -> None:
    store(db_url, IncomingMessage("telegram", "-100", "alice", "first", private=False))
    with write_session(db_url) as session:
        session.execute(update(Group).where(Group.chat_id == "-100").values(respond="mention"))
    assert store(db_url, IncomingMessage("telegram", "-100", "bob", "chatter", private=False)).addressed is False
    assert store(db_url, IncomingMessage("telegram", "-100", "bob", "@claw hi", private=False)).addressed is True


def test_a_repeat_returns_its_own_first_copy_among_look_alikes(db_url: str) -> None:
    # Given copies that share all but one of (channel, chat, external id) with the repeat, stored
    # before and after the one it repeats
    store(db_url, IncomingMessage("http", "-100", "x", "other channel", "42"))
    store(db_url, IncomingMessage("telegram", "-200", "x", "other chat", "42"))
    store(db_url, IncomingMessage("telegram", "-100", "x", "other id", "41"))
    original = store(db_url, IncomingMessage("telegram", "-100", "alice", "the one", "42"))
    store(db_url, IncomingMessage("telegram", "-100", "x", "later id", "43"))
    # When it arrives again, Then the id that comes back is its own first copy's
    again = store(db_url, IncomingMessage("telegram", "-100", "alice", "the one", "42"))
    assert (again.created, again.id) == (False, original.id)


@pytest.fixture
def groups_on_mention(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Group chats answered on mention only, as shipped (the test suite answers every message)."""
    monkeypatch.setenv("CLAW_GROUP_RESPOND", "mention")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_channels_word_on_privacy_decides_over_the_chat_id(db_url: str, groups_on_mention: None) -> None:
    # Given a Telegram chat whose id looks one-to-one but that the channel says is a group
    stored = store(db_url, IncomingMessage("telegram", "777", "alice", "chatter", private=False))
    # Then it is answered as a group chat, on mention, not on every message
    assert stored.addressed is False
    # And a chat whose id looks like a group's but that the channel says is private is
    # answered on every message
    assert store(db_url, IncomingMessage("telegram", "-5", "bob", "chatter", private=True)).addressed is True
    with read_session(db_url) as session:
        assert session.get(Group, "telegram:777").respond == "mention"  # type: ignore[union-attr]
        assert session.get(Group, "telegram:-5").respond == "always"  # type: ignore[union-attr]


def test_the_chats_name_is_kept_on_its_group_storable_and_cut_to_the_column(db_url: str) -> None:
    # Given a chat whose channel names it (what `claw groups` and the pairing notice show)
    store(db_url, IncomingMessage("telegram", "-1", "alice", "hi", "1", chat_name="Family"))
    store(db_url, IncomingMessage("telegram", "-2", "alice", "hi", "1", chat_name="N\x00" + "n" * 300))
    with read_session(db_url) as session:
        assert session.get(Group, "telegram:-1").name == "Family"  # type: ignore[union-attr]
        # a NUL becomes U+FFFD and the name fits its column
        assert session.get(Group, "telegram:-2").name == "N\ufffd" + "n" * 253  # type: ignore[union-attr]


def test_a_blocked_chats_message_is_dropped_and_says_whose_it_was(db_url: str) -> None:
    # Given a priority group its owner blocked
    store(db_url, IncomingMessage("http", "spam", "x", "first"))
    with write_session(db_url) as session:
        session.execute(update(Group).where(Group.id == "http:spam").values(
            access=GroupAccess.BLOCKED, priority=True))
    before = message_count(db_url)

    # When it sends again
    stored = store(db_url, IncomingMessage("http", "spam", "x", "again"))

    # Then nothing is stored, nothing starts a turn, and the answer names the group
    assert stored == StoredMessage(0, "http:spam", created=False, priority=True, addressed=False,
                                   access=GroupAccess.BLOCKED)
    assert not stored.starts_turn
    assert message_count(db_url) == before


def test_a_cap_too_small_for_the_marker_keeps_the_texts_start() -> None:
    # The marker for 1000 characters kept to 56 is itself 56 characters long: at that cap
    # (and below) the text's start is worth more than a marker with nothing before it
    assert len(f"\n[… cut: the message had 1000 characters, claw keeps {56}]") == 56
    assert cut("x" * 1000, 56) == "x" * 56
    assert cut("x" * 1000, 10) == "x" * 10
    assert cut("x" * 1000, 57) == "x\n[… cut: the message had 1000 characters, claw keeps 57]"


def test_a_repeat_says_what_its_first_copy_was_addressed_and_its_groups_access(db_url: str) -> None:
    # Given a group chat set to mention, waiting for its owner's approval, and a message stored
    # that did not address claw
    store(db_url, IncomingMessage("telegram", "-100", "alice", "first", private=False))
    with write_session(db_url) as session:
        session.execute(update(Group).where(Group.chat_id == "-100")
                        .values(respond="mention", access=GroupAccess.WAITING))
    chatter = IncomingMessage("telegram", "-100", "bob", "chatter", external_id="m1", private=False)
    store(db_url, chatter)

    # When the channel delivers it again
    repeat = store(db_url, chatter)

    # Then the repeat is its first copy: not addressed, in a group still waiting (no turn)
    assert (repeat.created, repeat.addressed, repeat.access) == (False, False, GroupAccess.WAITING)


def test_created_at_is_stored_as_utc_whatever_the_hosts_timezone(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a host whose local time is Tokyo's (UTC+9)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        when = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
        stored = store(db_url, IncomingMessage("http", "team", "alice", "hi", created_at=when))
    finally:
        monkeypatch.undo()
        time.tzset()

    # Then the stored time is the same instant, in UTC
    with read_session(db_url) as session:
        created_at = session.get(Message, stored.id).created_at  # type: ignore[union-attr]
    assert created_at.replace(tzinfo=timezone.utc) == when

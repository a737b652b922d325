"""claw.pipeline.turns: a group's turn takes all pending messages and commits exactly one reply."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from claw.agent import AgentReply, ModelRequest, ModelStep, ProviderError, TokenUsage
from claw.agent.offline import OfflineProvider
from claw.config import Settings, get_settings
from claw.db import Group, Message, Outbox, Usage, read_session, write_session
from claw.faults import FaultInjected, reset_fault_points
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.turns import (
    STALE_APOLOGY,
    AlreadyAnswered,
    TurnOutcome,
    TurnResult,
    answer_pending,
    build_turn_input,
    commit_reply,
    cooldown_left,
    is_stale,
    notify_failure,
    pending_messages,
    recent_history,
    tools_summary,
)
from claw.workspace import SCRATCH_DIR, group_dir
from tests.support.databases import as_default_database

# turns put the group's folder in its layout (claw.sandbox.layout, claw.safe_fs): a path taken
# from the cwd by mistake must fail the test, not touch the folder pytest runs in
pytestmark = pytest.mark.usefixtures("empty_cwd")

GROUP = "http:team"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


# ---- helpers and fixtures -----------------------------------------------------------------


def ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def say(db_url: str | None, sender: str, text: str, *, chat: str = "team",
        at: datetime | None = None) -> int:
    with write_session(db_url) as session:
        return store_message(session, IncomingMessage("http", chat, sender, text, None, at)).id


def reply_in_history(db_url: str, text: str, *, chat: str = "team") -> int:
    """An assistant message in the group's history (as an earlier turn would have left)."""
    with write_session(db_url) as session:
        message = Message(group_id=f"http:{chat}", channel="http", chat_id=chat,
                          role="assistant", sender="claw", text=text)
        session.add(message)
        session.flush()
        return message.id


def pending(db_url: str | None, group_id: str = GROUP) -> list[Message]:
    with read_session(db_url) as session:
        return pending_messages(session, group_id)


def counts(db_url: str | None) -> dict[str, int]:
    with read_session(db_url) as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Message, Outbox, Usage)}


def answered_by(db_url: str | None, *ids: int) -> list[int | None]:
    with read_session(db_url) as session:
        return [session.get(Message, i).answered_by for i in ids]  # type: ignore[union-attr]


def outbox_rows(db_url: str | None) -> list[Outbox]:
    with read_session(db_url) as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


@pytest.fixture
def default_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the default database (what answer_pending uses) at this test's database."""
    with as_default_database(db_url, monkeypatch) as url:
        yield url


def settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"workspace": tmp_path / "workspace", "cooldown": 1.5,
                                 "stale_after": 300.0}
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def message_at(moment: datetime) -> Message:
    return Message(group_id=GROUP, channel="http", chat_id="team", role="user", sender="a",
                   text="t", created_at=moment)


# ---- pending_messages ---------------------------------------------------------------------


def test_pending_messages_are_the_unanswered_user_messages_in_order(db_url: str) -> None:
    # Given a group with an answered message, a reply, two new messages, and another group
    old = say(db_url, "alice", "old")
    with write_session(db_url) as session:
        commit_reply(session, GROUP, pending_messages(session, GROUP), AgentReply("ok"),
                     "ok", started_at=T0)
    first = say(db_url, "bob", "first")
    say(db_url, "carol", "elsewhere", chat="other")
    second = say(db_url, "alice", "second")

    # When the group's pending messages are read
    rows = pending(db_url)

    # Then only the group's unanswered user messages come back, oldest first
    assert [m.id for m in rows] == [first, second]
    assert [(m.sender, m.text, m.role) for m in rows] == [("bob", "first", "user"),
                                                          ("alice", "second", "user")]
    assert old not in [m.id for m in rows]


def test_an_unknown_group_has_no_pending_messages(db_url: str) -> None:
    assert pending(db_url, "http:nobody") == []


# ---- cooldown_left / is_stale -------------------------------------------------------------


def test_cooldown_left_counts_from_the_latest_message() -> None:
    rows = [message_at(T0), message_at(T0 + timedelta(seconds=10))]

    assert cooldown_left(rows, 1.5, T0 + timedelta(seconds=10)) == pytest.approx(1.5)
    assert cooldown_left(rows, 1.5, T0 + timedelta(seconds=10.5)) == pytest.approx(1.0)
    assert cooldown_left(rows, 1.5, T0 + timedelta(seconds=11.5)) == 0.0
    assert cooldown_left(rows, 1.5, T0 + timedelta(hours=1)) == 0.0  # never negative
    assert cooldown_left(rows, 0.0, T0 + timedelta(seconds=10)) == 0.0


def test_is_stale_looks_at_the_oldest_message() -> None:
    rows = [message_at(T0 + timedelta(seconds=200)), message_at(T0)]

    assert is_stale(rows, 300, T0 + timedelta(seconds=299)) is False
    assert is_stale(rows, 300, T0 + timedelta(seconds=300)) is False  # strictly longer
    assert is_stale(rows, 300, T0 + timedelta(seconds=301)) is True


def test_naive_times_from_sqlite_are_taken_as_utc() -> None:
    # SQLite returns naive datetimes; they hold UTC
    rows = [message_at(T0.replace(tzinfo=None))]

    assert cooldown_left(rows, 5, T0 + timedelta(seconds=2)) == pytest.approx(3.0)
    assert is_stale(rows, 60, T0 + timedelta(seconds=61)) is True


# ---- build_turn_input ---------------------------------------------------------------------


def test_turn_input_has_history_before_the_pending_messages(db_url: str, tmp_path: Path) -> None:
    # Given an answered exchange, then two new messages, and a workspace personality
    say(db_url, "alice", "hi")
    with write_session(db_url) as session:
        commit_reply(session, GROUP, pending_messages(session, GROUP), AgentReply("hello"),
                     "hello", started_at=T0)
    say(db_url, "bob", "one")
    say(db_url, "alice", "two")
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "CLAUDE.md").write_text("You are terse.")

    # When the turn input is built
    with read_session(db_url) as session:
        turn = build_turn_input(
                session, settings(tmp_path), session.get(Group, GROUP), pending_messages(session, GROUP)
            )

    # Then history holds the earlier exchange and new_messages the pending ones, both in order
    assert turn.group_id == GROUP
    assert turn.system_prompt == "You are terse."
    assert [(l.role, l.sender, l.text) for l in turn.history] == [
        ("user", "alice", "hi"), ("assistant", "claw", "hello")]
    assert [(l.role, l.sender, l.text) for l in turn.new_messages] == [
        ("user", "bob", "one"), ("user", "alice", "two")]
    assert all(l.created_at.tzinfo is not None for l in [*turn.history, *turn.new_messages])


def test_the_history_window_stays_put_for_several_turns_as_the_conversation_grows(
    db_url: str, tmp_path: Path
) -> None:
    # Given a long conversation: 100 messages, a window of 20
    ids = [say(db_url, "alice" if n % 3 else "bob", f"message {n}", at=T0 + timedelta(minutes=n))
           for n in range(100)]
    starts = []
    with read_session(db_url) as session:
        group = session.get(Group, GROUP)
        for n in range(40, 100):
            # When turn after turn answers the next message
            turn = build_turn_input(session, settings(tmp_path, history_messages=20), group,
                                    [session.get(Message, ids[n])])
            # Then its history ends right before that message and keeps within the window
            assert turn.history[-1].text == f"message {n - 1}" and 10 <= len(turn.history) <= 20
            starts.append(turn.history[0].text)
    # And the window's first message (the start of the cached prompt) changes in steps, not
    # with every message
    assert 3 <= sum(a != b for a, b in zip(starts, starts[1:])) <= len(starts) // 3


# ---- commit_reply -------------------------------------------------------------------------


def test_commit_reply_writes_reply_outbox_usage_and_marks_messages(db_url: str) -> None:
    # Given two pending messages
    first = say(db_url, "alice", "one")
    second = say(db_url, "bob", "two")
    rows = pending(db_url)
    reply = AgentReply("alice: one\nbob: two",
                       [TokenUsage("m1", 3, 4, 1, 2), TokenUsage("m2", 5, 6)])

    # When the reply is committed
    with write_session(db_url) as session:
        outbox_id = commit_reply(session, GROUP, rows, reply, "the text", started_at=T0)

    # Then an assistant message, an outbox row and the usage are written
    with read_session(db_url) as session:
        outbox = session.get(Outbox, outbox_id)
        assert outbox is not None
        # (an HTTP group's clients read replies from the database: delivered on commit)
        assert (outbox.group_id, outbox.text, outbox.status, outbox.attempts) == (
            GROUP, "the text", "sent", 1)
        assert outbox.answers_upto_id == second
        assert outbox.turn_started_at.replace(tzinfo=timezone.utc) == T0  # type: ignore[union-attr]
        answer = session.get(Message, outbox.message_id)
        assert answer is not None
        assert (answer.group_id, answer.role, answer.sender, answer.text) == (
            GROUP, "assistant", "claw", "the text")
        assert (answer.channel, answer.chat_id, answer.answered_by) == ("http", "team", None)
        usage = session.scalars(select(Usage).order_by(Usage.id)).all()
        assert [(u.group_id, u.model, u.input_tokens, u.output_tokens, u.cache_read_tokens,
                 u.cache_write_tokens) for u in usage] == [
            (GROUP, "m1", 3, 4, 1, 2), (GROUP, "m2", 5, 6, 0, 0)]
        assert session.get(Group, GROUP).last_processed_id == second  # type: ignore[union-attr]
    # And every message it covers is answered by that outbox row
    assert answered_by(db_url, first, second) == [outbox_id, outbox_id]
    assert pending(db_url) == []


def test_commit_reply_raises_and_writes_nothing_if_a_message_was_answered_meanwhile(
    db_url: str,
) -> None:
    # Given two pending messages read by a turn
    first = say(db_url, "alice", "one")
    second = say(db_url, "bob", "two")
    rows = pending(db_url)
    # And another turn that answered the second one in the meantime
    with write_session(db_url) as session:
        other = commit_reply(session, GROUP, [rows[1]], AgentReply("x", [TokenUsage("m")]), "x",
                             started_at=T0)
    before = counts(db_url)

    # When the first turn tries to commit its reply to both
    with pytest.raises(AlreadyAnswered):
        with write_session(db_url) as session:
            commit_reply(session, GROUP, rows, AgentReply("y", [TokenUsage("m", 1, 1)]), "y",
                         started_at=T0)

    # Then nothing of it is left: no message, outbox or usage row, no answered mark
    assert counts(db_url) == before
    assert answered_by(db_url, first, second) == [None, other]
    assert [o.text for o in outbox_rows(db_url)] == ["x"]
    with read_session(db_url) as session:
        assert session.get(Group, GROUP).last_processed_id == second  # type: ignore[union-attr]
        assert session.scalars(select(Message.text).where(Message.role == "assistant")).all() == ["x"]


# ---- answer_pending -----------------------------------------------------------------------


def test_nothing_pending_is_idle(default_db: str, tmp_path: Path) -> None:
    result = answer_pending(settings(tmp_path), OfflineProvider(), GROUP)

    assert result == TurnResult(TurnOutcome.IDLE)
    assert counts(default_db) == {"Message": 0, "Outbox": 0, "Usage": 0}


def test_a_fresh_message_is_cooling_with_the_time_left(default_db: str, tmp_path: Path) -> None:
    # Given a message that just arrived and a 30 s cooldown
    say(None, "alice", "hi")

    # When the turn runs
    result = answer_pending(settings(tmp_path, cooldown=30), OfflineProvider(), GROUP)

    # Then it asks to be retried after the rest of the cooldown, and writes nothing
    assert result.outcome == TurnOutcome.COOLING
    assert result.retry_in is not None and 28 < result.retry_in <= 30
    assert result.outbox_id is None
    assert counts(default_db) == {"Message": 1, "Outbox": 0, "Usage": 0}
    assert len(pending(None)) == 1


def test_quiet_group_gets_one_reply_covering_all_pending_messages(
    default_db: str, tmp_path: Path
) -> None:
    # Given three messages, the latest 5 s old (longer than the cooldown)
    ids = [say(None, "alice", "one", at=ago(7)), say(None, "bob", "two", at=ago(6)),
           say(None, "alice", "three", at=ago(5))]

    # When the turn runs with the offline model
    result = answer_pending(settings(tmp_path), OfflineProvider(), GROUP)

    # Then one reply answers all three, in order, without an apology
    assert result.outcome == TurnOutcome.REPLIED
    assert result.answered == 3
    [outbox] = outbox_rows(None)
    assert result.outbox_id == outbox.id
    assert outbox.text == "alice: one\nbob: two\nalice: three"
    assert answered_by(None, *ids) == [outbox.id] * 3
    assert counts(default_db) == {"Message": 4, "Outbox": 1, "Usage": 1}

    # And a second (duplicate) turn finds nothing to do
    assert answer_pending(settings(tmp_path), OfflineProvider(), GROUP).outcome == TurnOutcome.IDLE
    assert counts(default_db) == {"Message": 4, "Outbox": 1, "Usage": 1}


def test_next_turn_answers_only_the_new_messages(default_db: str, tmp_path: Path) -> None:
    say(None, "alice", "one", at=ago(10))
    answer_pending(settings(tmp_path), OfflineProvider(), GROUP)
    say(None, "bob", "two", at=ago(5))

    result = answer_pending(settings(tmp_path), OfflineProvider(), GROUP)

    assert result.outcome == TurnOutcome.REPLIED and result.answered == 1
    assert [o.text for o in outbox_rows(None)] == ["alice: one", "bob: two"]


def test_a_turn_whose_oldest_message_waited_too_long_apologises(
    default_db: str, tmp_path: Path
) -> None:
    # Given a message 10 minutes old, another 5 s old, and stale_after of 5 minutes
    say(None, "alice", "anyone?", at=ago(600))
    say(None, "alice", "hello?", at=ago(5))

    # When the turn runs
    result = answer_pending(settings(tmp_path, stale_after=300), OfflineProvider(), GROUP)

    # Then the reply starts with the apology, then the answer
    assert result.outcome == TurnOutcome.REPLIED
    [outbox] = outbox_rows(None)
    assert outbox.text == f"{STALE_APOLOGY}\nalice: anyone?\nalice: hello?"
    with read_session(None) as session:
        assert session.get(Message, outbox.message_id).text == outbox.text  # type: ignore[union-attr]


def test_a_timely_turn_does_not_apologise(default_db: str, tmp_path: Path) -> None:
    say(None, "alice", "hi", at=ago(100))

    answer_pending(settings(tmp_path, stale_after=300), OfflineProvider(), GROUP)

    [outbox] = outbox_rows(None)
    assert outbox.text == "alice: hi"
    assert STALE_APOLOGY not in outbox.text


class FailingModel:
    name = model = "failing"

    def step(self, request: ModelRequest) -> ModelStep:
        raise ProviderError("model down")


def test_a_model_error_writes_nothing_and_leaves_messages_pending(
    default_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    say(None, "alice", "hi", at=ago(10))
    newest = say(None, "bob", "hello", at=ago(9))

    result = answer_pending(settings(tmp_path), FailingModel(), GROUP)

    # (the warning an operator sees on the console says whose turn failed, and why)
    assert f"turn_model_failed group={GROUP} retryable=True error=model down" in caplog.messages

    assert result.outcome == TurnOutcome.FAILED
    assert str(result.error) == "model down"
    # (the failure is pinned to the newest message it covered: a later message starts afresh)
    assert result.newest_pending_id == newest
    assert counts(default_db) == {"Message": 2, "Outbox": 0, "Usage": 0}
    assert len(pending(None)) == 2


class OvertakenModel:
    """Answers, but only after another turn committed a reply to the same messages."""

    name = model = "overtaken"

    def step(self, request: ModelRequest) -> ModelStep:
        with write_session() as session:
            commit_reply(session, GROUP, pending_messages(session, GROUP),
                         AgentReply("first"), "first", started_at=T0)
        return ModelStep([{"type": "text", "text": "second"}], TokenUsage(self.model))


def test_a_turn_overtaken_by_another_is_raced_and_writes_nothing(
    default_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    message = say(None, "alice", "hi", at=ago(10))

    result = answer_pending(settings(tmp_path), OvertakenModel(), GROUP)

    assert result == TurnResult(TurnOutcome.RACED)
    assert f"turn_raced group={GROUP}" in caplog.messages  # (the console's warning)
    [outbox] = outbox_rows(None)
    assert outbox.text == "first"
    assert answered_by(None, message) == [outbox.id]


def test_a_symlink_planted_in_an_old_group_directory_is_quarantined_before_the_turn_reads_it(
    default_db: str, tmp_path: Path
) -> None:
    from claw.personality import DEFAULT_PERSONALITY, load_personality
    from claw.workspace import group_dir

    # Given code in the sandbox planted CLAUDE.md -> a secret outside the workspace, back when
    # the group's folder was the sandbox's /workspace
    secret = tmp_path / "api_token"
    secret.write_text("secret-token")
    directory = group_dir(tmp_path / "workspace", GROUP)
    directory.mkdir(parents=True)
    (directory / "CLAUDE.md").symlink_to(secret)
    say(None, "alice", "hi", at=ago(10))
    # When the group's next turn runs
    result = answer_pending(settings(tmp_path), OfflineProvider(), GROUP)
    # Then the link is moved to the scratch folder's quarantine, and the personality is not the secret
    assert result.outcome == TurnOutcome.REPLIED
    assert not (directory / "CLAUDE.md").is_symlink()
    assert (directory / "files" / "quarantine" / "CLAUDE.md").is_symlink()
    assert load_personality(tmp_path / "workspace", GROUP) == DEFAULT_PERSONALITY
    assert secret.read_text() == "secret-token"


def test_a_group_folder_that_cannot_be_laid_out_is_logged_and_never_blocks_the_turn(
    default_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a plain file where the group's folder should be
    directory = group_dir(tmp_path / "workspace", GROUP)
    directory.parent.mkdir(parents=True)
    directory.write_text("not a folder")
    say(None, "alice", "hi", at=ago(10))
    # When its turn runs
    result = answer_pending(settings(tmp_path), OfflineProvider(), GROUP)
    # Then the group is answered all the same, and the console's warning names it and the error
    assert result.outcome == TurnOutcome.REPLIED
    [warning] = [m for m in caplog.messages if m.startswith("group_layout_failed")]
    assert warning == f"group_layout_failed group={GROUP} error=[Errno 17] File exists: '{directory}'", warning


def test_each_turn_adds_a_line_to_the_groups_daily_memory_and_memory_md_reaches_the_prompt(
    default_db: str, tmp_path: Path
) -> None:
    from claw.memory import memory_prompt

    # Given a group with curated memory
    workspace = tmp_path / "workspace"
    say(None, "alice", "what's for lunch?", at=ago(10))
    with read_session() as session:
        group = session.get(Group, GROUP)
        memory_md = group_memory_file(workspace)
        memory_md.parent.mkdir(parents=True, exist_ok=True)
        memory_md.write_text("Alice is vegetarian.\n")
        turn = build_turn_input(session, settings(tmp_path), group, pending_messages(session, GROUP))
    # Then MEMORY.md is part of the system prompt
    assert "Alice is vegetarian." in turn.system_prompt
    assert memory_prompt(workspace, GROUP) in turn.system_prompt
    # When the turn runs
    answer_pending(settings(tmp_path), OfflineProvider(), GROUP)
    # Then today's daily file records who asked and what the assistant did
    daily = list((group_memory_file(workspace).parent / "daily").glob("*.md"))
    assert len(daily) == 1
    text = daily[0].read_text()
    assert "alice" in text and "what's for lunch?" in text


def group_memory_file(workspace: Path) -> Path:
    from claw.memory.files import group_memory_root

    return group_memory_root(workspace, GROUP) / "MEMORY.md"


def test_the_turn_uses_the_groups_own_timezone(db_url: str, tmp_path: Path) -> None:
    say(db_url, "alice", "hi")
    with write_session(db_url) as session:
        session.get_one(Group, GROUP).settings = {"timezone": "Asia/Tokyo"}
    with read_session(db_url) as session:
        turn = build_turn_input(
            session, settings(tmp_path, tz="Europe/Berlin"), session.get_one(Group, GROUP),
            pending_messages(session, GROUP),
        )
    assert turn.timezone == "Asia/Tokyo"


def test_a_claude_md_with_invalid_utf8_never_blocks_the_group(default_db: str, tmp_path: Path) -> None:
    from claw.workspace import group_dir

    # Given the group's CLAUDE.md holds bytes that are not UTF-8
    directory = group_dir(tmp_path / "workspace", GROUP)
    directory.mkdir(parents=True)
    (directory / "CLAUDE.md").write_bytes(b"Be kind \xff\xfe\n")
    say(None, "alice", "still there?", at=ago(10))
    # When the group's next turn runs
    result = answer_pending(settings(tmp_path), OfflineProvider(), GROUP)
    # Then it answers
    assert result.outcome == TurnOutcome.REPLIED
    [outbox] = outbox_rows(None)
    assert outbox.text == "alice: still there?"


# ---- a backlog too big for one turn -------------------------------------------------------


def test_a_200_message_backlog_is_answered_in_one_turn_with_a_trim_marker(
    default_db: str, tmp_path: Path
) -> None:
    # Given 200 messages left pending by a long outage, and room for 50 in a turn
    with write_session() as session:
        ids = [store_message(session, IncomingMessage("http", "team", "alice", f"msg {i}", None,
                                                       ago(600 - i))).id for i in range(200)]

    # When the group's turn runs
    result = answer_pending(settings(tmp_path, pending_max_messages=50), OfflineProvider(), GROUP)

    # Then one reply answers all 200, and it shows (the offline model echoes what it saw) that
    # the oldest 150 were trimmed, and the newest 50 in order
    assert result.outcome == TurnOutcome.REPLIED and result.answered == 200
    [outbox] = outbox_rows(None)
    lines = outbox.text.splitlines()
    assert lines[0] == STALE_APOLOGY
    assert lines[1].startswith("claw: [… 150 earlier messages / ")
    assert lines[2:] == [f"alice: msg {i}" for i in range(150, 200)]
    assert answered_by(None, *ids) == [outbox.id] * 200


def test_one_huge_pending_message_is_cut_not_refused(
    default_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claw.config import get_settings

    # Given a 200 KB pending message (stored under a raised ingest cap, as before caps existed)
    monkeypatch.setenv("CLAW_API_MAX_TEXT", "300000")
    get_settings.cache_clear()
    try:
        message = say(None, "alice", "A" * 100_000 + "Z" * 100_000, at=ago(10))
    finally:
        monkeypatch.delenv("CLAW_API_MAX_TEXT")
        get_settings.cache_clear()

    # When the turn runs
    result = answer_pending(settings(tmp_path), OfflineProvider(), GROUP)

    # Then the model saw its head and tail around a marker, and it is answered
    assert result.outcome == TurnOutcome.REPLIED
    [outbox] = outbox_rows(None)
    assert outbox.text.startswith("alice: AAAA") and outbox.text.endswith("ZZZZ")
    assert "characters trimmed …]" in outbox.text
    assert len(outbox.text) < settings(tmp_path).pending_char_budget + 100
    assert answered_by(None, message) == [outbox.id]


def test_a_turn_does_not_answer_set_aside_messages(default_db: str, tmp_path: Path) -> None:
    from claw.pipeline.setaside import set_aside

    # Given a set-aside message and a later one
    poison = say(None, "alice", "poison", at=ago(20))
    with write_session() as session:
        set_aside(session, GROUP, upto_id=poison, reason="error: boom", attempts=3)
    later = say(None, "bob", "later", at=ago(10))

    # When the turn runs, it answers the later message only
    answer_pending(settings(tmp_path), OfflineProvider(), GROUP)

    chat = [o for o in outbox_rows(None) if o.answers_upto_id]
    assert [o.text for o in chat] == ["bob: later"]
    assert answered_by(None, poison, later) == [None, chat[0].id]


# ---- the history a turn shows the model ----------------------------------------------------


def test_recent_history_is_what_was_said_before_the_batch_and_among_the_group_during_it(db_url: str) -> None:
    # Given a group's messages: said before the batch, the batch (two messages), one message
    # of the group that did not address claw between them, and what never belongs to history
    def row(text: str, *, role: str = "user", **fields: object) -> int:
        with write_session(db_url) as session:
            message = Message(group_id=GROUP, channel="http", chat_id="team", role=role, sender="ann",
                              text=text, **fields)
            session.add(message)
            session.flush()
            return message.id

    first = say(db_url, "ann", "hello")  # (creates the group)
    answer = row("hi ann", role="assistant")
    aside = row("poison", set_aside_at=T0)
    chatter = row("lunch?", addressed=False)
    notice = row("claw is slow today", role="assistant", kind="notice")
    say(db_url, "bob", "elsewhere", chat="other")
    batch_one = row("claw, what time is it?")
    between = row("noon I think", addressed=False)
    batch_two = row("claw, and the date?")
    after = row("said after the batch", addressed=False)
    assert notice and aside and after
    with read_session(db_url) as session:
        # When the history before the batch is read, with and without the batch's span
        plain = recent_history(session, GROUP, batch_one, 10)
        during = recent_history(session, GROUP, batch_one, 10, upto_id=batch_two,
                                batch=frozenset({batch_one, batch_two}))
        newest_two = recent_history(session, GROUP, batch_one, 2, upto_id=batch_two,
                                    batch=frozenset({batch_one, batch_two}))
    # Then it is the group's chat before the batch, oldest first, and with the span also what
    # the group said among itself between the batch's messages; the limit keeps the newest
    assert [m.id for m in plain] == [first, answer, chatter]
    assert [m.id for m in during] == [first, answer, chatter, between]
    assert [m.id for m in newest_two] == [chatter, between]


# ---- what a turn hands on, and to whom ------------------------------------------------------


def test_a_turn_streams_its_text_and_records_when_it_started_and_what_it_cost(
    default_db: str, tmp_path: Path
) -> None:
    # Given a pending message, and a price for the model (CLAW_PRICES: 1 USD per input token,
    # 2 per output token, so the cost shows which prices were used)
    say(None, "alice", "three words here", at=ago(5))
    streamed: list[str] = []
    began: list[int] = []
    before = datetime.now(timezone.utc)

    # When the turn runs, streaming to a listener (what `claw chat` and `?stream=` show)
    result = answer_pending(settings(tmp_path, prices='{"offline": [1000000, 2000000, 0, 0]}'),
                           OfflineProvider(), GROUP, on_text=streamed.append,
                           on_start=lambda: began.append(len(streamed)))
    after = datetime.now(timezone.utc)

    # Then the listener was told the model was asked before any text came, and got the text
    assert result.outcome == TurnOutcome.REPLIED
    assert began == [0]
    [outbox] = outbox_rows(None)
    assert "".join(streamed) == outbox.text == "alice: three words here"
    # And the reply records when its turn began (the delivery latency counts from there)
    assert outbox.turn_started_at is not None
    assert before <= outbox.turn_started_at.replace(tzinfo=timezone.utc) <= after
    # And its usage is priced with CLAW_PRICES: 3 words in, 4 out
    with read_session(None) as session:
        [usage] = session.scalars(select(Usage)).all()
    assert (usage.model, usage.input_tokens, usage.output_tokens) == ("offline", 3, 4)
    assert usage.cost_usd == pytest.approx(3 * 1 + 4 * 2)


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another uid needs root")
@pytest.mark.parametrize(("sandbox", "uid", "owner"), [
    ("bwrap", 54321, 54321),
    ("subprocess", 54321, 0),  # the subprocess "sandbox" runs code as claw itself
    ("bwrap", 0, 0),  # a refused CLAW_SANDBOX_UID (root): the sandbox refuses to run, the turn goes on
])
def test_a_groups_first_turn_hands_its_files_to_the_sandboxs_uid(
    default_db: str, tmp_path: Path, sandbox: str, uid: int, owner: int
) -> None:
    # Given claw running as root with a sandbox that runs code as ``uid``, and a group with
    # no folder yet
    say(None, "alice", "hi", at=ago(5))
    chosen = settings(tmp_path, sandbox=sandbox, sandbox_uid=uid, sandbox_gid=uid)

    # When its first turn runs
    assert answer_pending(chosen, OfflineProvider(), GROUP).outcome == TurnOutcome.REPLIED

    # Then the folder its code writes (files/) belongs to the uid that code runs as, so it can
    # write there and nowhere else of the group's folder
    files = group_dir(chosen.workspace, GROUP) / SCRATCH_DIR
    assert (files.stat().st_uid, files.stat().st_gid) == (owner, owner)
    assert group_dir(chosen.workspace, GROUP).stat().st_uid == 0


def test_a_failure_notice_goes_only_to_a_group_still_waiting(default_db: str) -> None:
    # Given a group whose messages were all answered meanwhile
    say(None, "alice", "hi")
    with write_session(None) as session:
        commit_reply(session, GROUP, pending_messages(session, GROUP), AgentReply("ok"), "ok", started_at=T0)
    before = counts(default_db)
    # When a failure notice is due, Then nothing is written: no one waits for an explanation
    assert notify_failure(GROUP, "the model is unreachable") is None
    assert counts(default_db) == before
    # And a group still waiting is told, its message left pending for the next turn
    waiting = say(None, "bob", "hello?", chat="other")
    outbox_id = notify_failure("http:other", "the model is unreachable")
    assert outbox_id is not None
    assert [o.text for o in outbox_rows(None) if o.id == outbox_id] == ["the model is unreachable"]
    assert [m.id for m in pending(None, "http:other")] == [waiting]


def test_the_turn_log_line_counts_each_tool_once_with_its_repeats() -> None:
    # (the turn_replied line operators grep: `tools=web_fetch,save_memory*2`)
    assert tools_summary(["web_fetch", "save_memory", "save_memory"]) == "web_fetch,save_memory*2"
    assert tools_summary(["run_code"]) == "run_code"
    assert tools_summary([]) == "-"


@pytest.fixture
def fault_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """Make a named fault point raise, for this test only (the turn reads them from the settings)."""

    def configure(point: str) -> None:
        monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("CLAW_FAULT_POINTS", f"{point}:raise")
        get_settings.cache_clear()
        reset_fault_points()

    yield configure
    get_settings.cache_clear()
    reset_fault_points()


@pytest.mark.parametrize(("point", "asked", "committed"), [
    ("turn.before_agent", False, False),
    (f"turn.before_agent@{GROUP}", False, False),
    ("turn.before_commit", True, False),
    ("turn.after_commit", True, True),
    (f"turn.after_commit@{GROUP}", True, True),
])
def test_each_fault_point_of_a_turn_sits_at_its_step(
    default_db: str, tmp_path: Path, fault_at: Callable[[str], None], point: str, asked: bool,
    committed: bool,
) -> None:
    # Given a fault at one named step of the turn (what the kill and chaos tests use:
    # CLAW_FAULT_POINTS=turn.after_commit:kill-once)
    first = say(None, "alice", "hi", at=ago(5))
    fault_at(point)
    streamed: list[str] = []

    # When the turn runs, Then it stops there
    with pytest.raises(FaultInjected, match=f"^{re.escape(point)}$"):
        answer_pending(settings(tmp_path), OfflineProvider(), GROUP, on_text=streamed.append)

    # Before the model was asked, or after it; before the reply's commit, or after it
    assert bool(streamed) is asked
    assert [o.text for o in outbox_rows(None)] == (["alice: hi"] if committed else [])
    assert [m.id for m in pending(None)] == ([] if committed else [first])


def test_a_fault_point_of_one_group_leaves_the_others_alone(
    default_db: str, tmp_path: Path, fault_at: Callable[[str], None]
) -> None:
    say(None, "bob", "hi", chat="other", at=ago(5))
    fault_at(f"turn.before_agent@{GROUP}")
    assert answer_pending(settings(tmp_path), OfflineProvider(), "http:other").outcome == TurnOutcome.REPLIED


def test_the_turns_span_is_logged_around_the_model_and_the_commit_even_when_it_fails(
    default_db: str, tmp_path: Path, fault_at: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    # (the lines the overlap tests read to see that two turns of one group never overlap)
    caplog.set_level(logging.INFO, logger="claw.pipeline.turns")
    say(None, "alice", "hi", at=ago(5))
    seen: list[list[str]] = []

    def spans() -> list[str]:
        return [m.split()[0] for m in caplog.messages if m.startswith(("turn_began", "turn_ended"))]

    answer_pending(settings(tmp_path), OfflineProvider(), GROUP, on_text=lambda _: seen.append(spans()))
    # the model answered inside the span, and the span closed after the commit
    assert seen == [["turn_began"]]
    assert spans() == ["turn_began", "turn_ended"]
    began, ended = (m for m in caplog.messages if m.startswith(("turn_began", "turn_ended")))
    assert began.startswith(f"turn_began group={GROUP} pid={os.getpid()} at=")
    assert ended.startswith(f"turn_ended group={GROUP} pid={os.getpid()} at=")
    assert float(began.rpartition("at=")[2]) <= float(ended.rpartition("at=")[2])
    [replied] = [m for m in caplog.messages if m.startswith("turn_replied")]
    assert caplog.messages.index(replied) < caplog.messages.index(ended)
    # (and the line operators and the e2e tests grep for a turn's outcome)
    [outbox] = outbox_rows(None)
    assert re.fullmatch(rf"turn_replied group={GROUP} answered=1 tools=- tokens=1/2 seconds=\d+\.\d "
                        rf"outbox={outbox.id}", replied), replied
    assert float(replied.partition("seconds=")[2].split()[0]) < 60  # the turn's own time, not a clock

    # And a turn that dies at a fault point still closes its span
    say(None, "alice", "again", at=ago(5))
    fault_at("turn.before_commit")
    with pytest.raises(FaultInjected):
        answer_pending(settings(tmp_path), OfflineProvider(), GROUP)
    assert spans() == ["turn_began", "turn_ended"] * 2


def test_the_daily_memory_line_is_dated_and_timed_in_the_groups_own_timezone_and_names_its_tools(
    default_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claw.pipeline.turns")
    # Given a group that lives at UTC+14 (its day and hour are never the host's UTC ones)
    say(None, "alice", "remember that Bob likes tea", at=ago(10))
    with write_session(None) as session:
        session.get_one(Group, GROUP).settings = {"timezone": "Pacific/Kiritimati"}
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    before = datetime.now(kiritimati)

    # When its turn runs (and saves a memory)
    assert answer_pending(settings(tmp_path), OfflineProvider(), GROUP).outcome == TurnOutcome.REPLIED
    after = datetime.now(kiritimati)

    # Then the day's file and the line's time are the group's, as of the turn, and the line
    # says which tools the turn used
    [daily] = (group_memory_file(tmp_path / "workspace").parent / "daily").glob("*.md")
    assert daily.stem in {before.date().isoformat(), after.date().isoformat()}
    [line] = [line for line in daily.read_text().splitlines() if "alice:" in line]
    assert any(line.startswith(f"- {moment:%H:%M} alice:") for moment in (before, after)), line
    assert line.endswith(" [save_memory]"), line
    # And so does the turn's log line
    [replied] = [m for m in caplog.messages if m.startswith("turn_replied")]
    assert replied.startswith(f"turn_replied group={GROUP} answered=1 tools=save_memory tokens="), replied


class RecordingModel:
    """Answers "ok" and keeps what it was sent."""

    name = model = "recording"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def step(self, request: ModelRequest) -> ModelStep:
        self.sent.append(str(request.messages))
        return ModelStep([{"type": "text", "text": "ok"}], TokenUsage(self.model))


def test_the_history_sent_to_the_model_keeps_to_its_token_budget(default_db: str, tmp_path: Path) -> None:
    # Given a long conversation already answered, and a new message
    for n, text in enumerate(["the oldest words " + "x" * 8000, "recent 1", "recent 2", "recent 3"]):
        say(None, "alice", text, at=ago(60 - n))
        with write_session(None) as session:
            commit_reply(session, GROUP, pending_messages(session, GROUP), AgentReply("a"),
                         f"recent reply {n}", started_at=T0)
    say(None, "bob", "and now?", at=ago(5))
    model = RecordingModel()

    # When the turn runs with a history budget of ~1000 tokens (CLAW_HISTORY_TOKEN_BUDGET)
    answer_pending(settings(tmp_path, history_token_budget=1000), model, GROUP)

    # Then the model gets the newest history that fits, not the whole conversation
    [sent] = model.sent
    assert "recent reply 3" in sent and "and now?" in sent
    assert "the oldest words" not in sent


def test_the_turns_history_is_its_own_groups_last_messages_only(db_url: str, tmp_path: Path) -> None:
    # Given two groups talking at once, and a history of 3 messages (CLAW_HISTORY_MESSAGES)
    for n in range(5):
        say(db_url, "alice", f"team line {n}")
        say(db_url, "mallory", f"other group's secret {n}", chat="other")
    with write_session(db_url) as session:
        commit_reply(session, GROUP, pending_messages(session, GROUP), AgentReply("a"), "noted",
                     started_at=T0)
    say(db_url, "bob", "and now?")

    # When the team's turn input is built
    with read_session(db_url) as session:
        turn = build_turn_input(session, settings(tmp_path, history_messages=3),
                                session.get_one(Group, GROUP), pending_messages(session, GROUP))

    # Then its history holds the team's latest messages (at most three, cut where a step
    # begins), nothing of the other group
    texts = [line.text for line in turn.history]
    assert texts[-2:] == ["team line 4", "noted"] and len(texts) <= 3
    assert set(texts) <= {"team line 3", "team line 4", "noted"}
    assert "secret" not in str(turn)


# ---- the turn's clock, its memory prompt, and whom its tools act for -------------------------


def test_a_turn_waits_out_the_last_second_of_its_cooldown(
    default_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a message whose 30 s cooldown has half a second left on the turn's clock (the
    # clock is set, so this never depends on how fast the machine is)
    at = ago(100)
    say(None, "alice", "hi", at=at)
    monkeypatch.setattr("claw.pipeline.turns.utcnow", lambda: at + timedelta(seconds=29.5))

    # When the turn runs
    result = answer_pending(settings(tmp_path, cooldown=30), OfflineProvider(), GROUP)

    # Then it still waits, for that half second, and nothing is answered yet
    assert result.outcome == TurnOutcome.COOLING
    assert result.retry_in == pytest.approx(0.5)
    assert counts(default_db) == {"Message": 1, "Outbox": 0, "Usage": 0}

    # And once the cooldown is over it answers
    monkeypatch.setattr("claw.pipeline.turns.utcnow", lambda: at + timedelta(seconds=30.5))
    assert answer_pending(settings(tmp_path, cooldown=30), OfflineProvider(), GROUP).outcome \
        == TurnOutcome.REPLIED


def test_memory_md_reaches_the_prompt_only_up_to_claw_memory_prompt_chars(
    db_url: str, tmp_path: Path
) -> None:
    # Given a MEMORY.md far longer than CLAW_MEMORY_PROMPT_CHARS (200 here)
    say(db_url, "alice", "hi")
    memory_md = group_memory_file(tmp_path / "workspace")
    memory_md.parent.mkdir(parents=True, exist_ok=True)
    memory_md.write_text("Alice is vegetarian. " + "filler " * 200 + "The last fact.\n")

    # When the turn's input is built
    with read_session(db_url) as session:
        turn = build_turn_input(session, settings(tmp_path, memory_prompt_chars=200),
                                session.get_one(Group, GROUP), pending_messages(session, GROUP))

    # Then the prompt has the file's start, cut at the cap, and not its end
    assert "Alice is vegetarian." in turn.system_prompt
    assert "The last fact." not in turn.system_prompt
    assert "filler " * 30 not in turn.system_prompt


class ToolCallingModel:
    """Calls the tools it is given once, then says what they answered; keeps the tools offered."""

    name = model = "tool-calling"

    def __init__(self, calls: list[tuple[str, dict[str, object]]]) -> None:
        self.calls = calls
        self.offered: list[list[str]] = []

    def step(self, request: ModelRequest) -> ModelStep:
        self.offered.append([spec.name for spec in request.tools])
        last = request.messages[-1]["content"] if request.messages else ""
        if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last):
            text = "\n".join(str(b["content"]) for b in last if b.get("type") == "tool_result")
            return ModelStep([{"type": "text", "text": text}], TokenUsage(self.model))
        blocks = [{"type": "tool_use", "id": f"call_{n}", "name": name, "input": arguments}
                  for n, (name, arguments) in enumerate(self.calls)]
        return ModelStep(blocks, TokenUsage(self.model), stop_reason="tool_use")  # type: ignore[arg-type]


SAVE_FOR_EVERYONE = ("save_memory", {"category": "topics", "topic": "tea", "scope": "global",
                                     "content": "Bob likes tea"})


@pytest.mark.parametrize(("is_main", "web"), [(True, False), (False, True)])
def test_a_turns_tools_act_with_its_groups_main_flag_timezone_and_tool_settings(
    default_db: str, tmp_path: Path, is_main: bool, web: bool
) -> None:
    # Given a group at UTC+14 (CLAW_TZ is Berlin), main or not, with the web switched on or off
    say(None, "alice", "remember for everyone that Bob likes tea", at=ago(10))
    with write_session(None) as session:
        group = session.get_one(Group, GROUP)
        group.is_main = is_main
        group.settings = {"timezone": "Pacific/Kiritimati", "web": web}
    model = ToolCallingModel([SAVE_FOR_EVERYONE])

    # When its turn saves a memory for every group
    result = answer_pending(settings(tmp_path, tz="Europe/Berlin"), model, GROUP)

    # Then only a main group may, and the entry is stamped in the group's own timezone
    assert result.outcome == TurnOutcome.REPLIED
    [outbox] = outbox_rows(None)
    shared = list((tmp_path / "workspace").rglob("tea.md"))
    if is_main:
        assert outbox.text == "I'll remember that: Bob likes tea (saved in global/topics/tea.md)"
        [note] = shared
        assert "+14:00" in note.read_text()
    else:
        assert "only the main group can write global memory" in outbox.text
        assert shared == []
    # And the web tools are offered only where the group's settings leave the web on
    assert all(("web_fetch" in offered) is web for offered in model.offered)

"""claw.pipeline.journal and the turn that uses it: a redone turn resumes from its journal, so
every tool's effect happens exactly once. On SQLite and PostgreSQL.

A turn is redone after the model fails (a ProviderError) or after its process dies; here the
death is the ``turn.after_tool`` fault point raising, which leaves the same state behind as a
SIGKILL at that step (tests/e2e/test_durable_turns.py kills real worker processes).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from claw.agent import AgentReply, ModelRequest, ModelStep, ProviderError, TokenUsage
from claw.agent.offline import OfflineProvider
from claw.config import Settings, get_settings
from claw.db import Message, Usage, read_session, write_session
from claw.db.models import Schedule, TurnJournal, TurnStep
from claw.faults import FaultInjected, reset_fault_points
from claw.memory import GroupMemory, group_memory_root, memory_history
from claw.personality import load_personality, previous_versions, save_personality
from claw.pipeline import journal as journals
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.turns import TurnOutcome, answer_pending, commit_reply, pending_messages
from claw.workspace import scratch_dir
from tests.support.databases import as_default_database

# turns put the group's folder in its layout (claw.sandbox.layout, claw.safe_fs): a path taken
# from the cwd by mistake must fail the test, not touch the folder pytest runs in
pytestmark = pytest.mark.usefixtures("empty_cwd")

GROUP = "http:team"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


# ---- helpers and fixtures -----------------------------------------------------------------


@pytest.fixture
def default_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with as_default_database(db_url, monkeypatch) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(workspace=tmp_path / "workspace", home=tmp_path / "home", cooldown=1.5)


@contextmanager
def dies_at(point: str, monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[None]:
    """The turn dies (FaultInjected) the first time it reaches ``point``."""
    monkeypatch.setenv("CLAW_FAULT_POINTS", f"{point}:raise-once")
    monkeypatch.setenv("CLAW_HOME", str(home))
    get_settings.cache_clear()
    reset_fault_points()
    try:
        yield
    finally:
        monkeypatch.delenv("CLAW_FAULT_POINTS")
        get_settings.cache_clear()
        reset_fault_points()


@pytest.fixture
def killed_after_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The turn dies right after its first tool returns, before the loop journals the result."""
    with dies_at("turn.after_tool", monkeypatch, tmp_path / "home"):
        yield


def say(sender: str, text: str, *, seconds_ago: float = 10) -> int:
    at = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    with write_session() as session:
        return store_message(session, IncomingMessage("http", "team", sender, text, None, at)).id


def tool_use(name: str, arguments: dict[str, Any], *, text: str = "") -> ModelStep:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.append({"type": "tool_use", "id": f"toolu_{name}", "name": name, "input": arguments})
    return ModelStep(content, TokenUsage("scripted", 100, 10), "tool_use")


def echo_tool_result(request: ModelRequest) -> ModelStep:
    """The model's final answer: what its tool said, as the tool said it."""
    [result] = [b for b in request.messages[-1]["content"] if b.get("type") == "tool_result"]
    return ModelStep([{"type": "text", "text": f"Done: {result['content']}"}], TokenUsage("scripted", 200, 20))


class ScriptedModel:
    """A model that answers from a script (a step, a function of the request, or an error)."""

    name = model = "scripted"

    def __init__(self, *script: ModelStep | Callable[[ModelRequest], ModelStep] | Exception) -> None:
        self.script = list(script)
        self.seen: list[list[dict[str, Any]]] = []

    def step(self, request: ModelRequest) -> ModelStep:
        self.seen.append(copy.deepcopy(request.messages))
        entry = self.script.pop(0)
        if isinstance(entry, Exception):
            raise entry
        return entry(request) if callable(entry) else entry


def journal_rows() -> tuple[int, int]:
    with read_session() as session:
        return (session.scalar(select(func.count()).select_from(TurnJournal)) or 0,
                session.scalar(select(func.count()).select_from(TurnStep)) or 0)


def chat_replies() -> list[str]:
    with read_session() as session:
        return list(session.scalars(select(Message.text).where(
            Message.group_id == GROUP, Message.role == "assistant", Message.kind == "chat").order_by(Message.id)))


# ---- the journal itself -------------------------------------------------------------------


def test_a_journal_opens_with_its_first_step_and_keeps_the_first_entry_of_each(default_db: str) -> None:
    first = say("alice", "hi")
    journal = journals.TurnJournal(GROUP, [first], T0)
    # Given a journal nothing was recorded in: it is not in the database
    assert not journal.opened and journal_rows() == (0, 0)
    # When the model's first step is recorded, then a tool result, twice
    journal.record(1, 0, {"content": [], "usage": {}})
    assert journal.record(1, 1, {"content": "first", "is_error": False}) == {"content": "first", "is_error": False}
    again = journal.record(1, 1, {"content": "second", "is_error": False})
    # Then the journal exists once, for this batch, and the first entry of a step stands
    assert again == {"content": "first", "is_error": False}
    with read_session() as session:
        found = journals.open_journal(session, GROUP)
    assert found is not None and found.message_ids == [first] and found.key == journal.key
    assert found.recorded(1, 1) == {"content": "first", "is_error": False}
    assert journal_rows() == (1, 2)


def test_an_effect_and_its_journal_entry_commit_together_or_not_at_all(default_db: str) -> None:
    journal = journals.TurnJournal(GROUP, [say("alice", "hi")], T0)
    journal.record(1, 0, {"content": [], "usage": {}})
    slot = journal.slot(1, 1)
    # When a tool's transaction fails after journaling its result
    with pytest.raises(RuntimeError), write_session() as session:
        slot.record(session, {"content": "made it", "is_error": False})
        raise RuntimeError("the effect failed")
    # Then nothing is journaled; a transaction that succeeds journals it
    assert slot.recorded() is None
    with write_session() as session:
        slot.record(session, {"content": "made it", "is_error": False})
    assert slot.recorded() == {"content": "made it", "is_error": False}
    assert slot.record_once({"content": "other", "is_error": False})["content"] == "made it"
    # And each host request of the call has an entry and a marker of its own
    assert slot.for_request(2).recorded() is None
    assert slot.marker == f"{journal.key}.1.1" and slot.for_request(2).marker == f"{journal.key}.1.1.2"


def test_markers_never_repeat_across_journals_even_when_row_ids_do(default_db: str) -> None:
    keys = []
    for _ in range(2):
        journal = journals.TurnJournal(GROUP, [say("alice", "hi")], T0)
        journal.record(1, 0, {"content": [], "usage": {}})
        keys.append(journal.slot(1, 1).marker)
        with write_session() as session:
            journal.close(session)
    assert keys[0] != keys[1]
    assert journal_rows() == (0, 0)


def test_a_group_has_one_open_journal_at_most(default_db: str) -> None:
    journals.TurnJournal(GROUP, [say("alice", "hi")], T0).record(1, 0, {"content": []})
    with pytest.raises(IntegrityError):
        journals.TurnJournal(GROUP, [say("bob", "hi")], T0).record(1, 0, {"content": []})
    with write_session() as session:
        assert journals.discard_journal(session, GROUP) is True
        assert journals.discard_journal(session, GROUP) is False


# ---- turns that use it --------------------------------------------------------------------


def test_a_turn_without_tools_writes_no_journal(default_db: str, settings: Settings) -> None:
    say("alice", "hello")
    assert answer_pending(settings, OfflineProvider(), GROUP).outcome == TurnOutcome.REPLIED
    assert journal_rows() == (0, 0)


def test_a_turn_the_model_failed_after_a_tool_resumes_and_answers_the_same_batch(
    default_db: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claw.pipeline.turns")
    # Given a turn whose model scheduled a reminder and then failed
    first = say("alice", "remind me in 10 minutes to stretch")
    model = ScriptedModel(
        tool_use("schedule_task", {"kind": "reminder", "spec": "in 10 minutes", "text": "stretch"}),
        ProviderError("overloaded"),
        echo_tool_result,
    )
    assert answer_pending(settings, model, GROUP).outcome == TurnOutcome.FAILED
    # And a message that arrived while it waited to be redone
    later = say("bob", "and me?", seconds_ago=0)
    with read_session() as session:
        journal = journals.open_journal(session, GROUP)
    assert journal is not None
    # When the turn is redone
    result = answer_pending(settings, model, GROUP)
    # (which the log says, with the journal it resumed)
    assert f"turn_resumed group={GROUP} journal={journal.journal_id} messages=1" in caplog.messages
    # Then it answered only its own batch, with the journaled tool result, and no new reminder
    assert (result.outcome, result.answered) == (TurnOutcome.REPLIED, 1)
    [reply] = chat_replies()
    assert reply.startswith("Done: Reminder #1 set for ") and reply.endswith(": stretch")
    with read_session() as session:
        assert session.scalar(select(func.count()).select_from(Schedule)) == 1
        assert [m.id for m in pending_messages(session, GROUP)] == [later]
        assert session.get_one(Message, first).answered_by is not None
        # And the usage counts every model call that answered, the journaled one included
        assert session.scalar(select(func.sum(Usage.input_tokens))) == 300
    # And the model was never asked the first step again: it went on after the tool result
    assert len(model.seen) == 3 and model.seen[2] == model.seen[1]
    assert model.seen[2][-1]["content"][0]["type"] == "tool_result"
    # And the reply's transaction closed the journal
    assert journal_rows() == (0, 0)


def test_a_turn_that_dies_before_its_commit_asks_only_for_the_answer_again(
    default_db: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    say("alice", "remind me in 10 minutes to stretch")
    model = ScriptedModel(
        tool_use("schedule_task", {"kind": "reminder", "spec": "in 10 minutes", "text": "stretch"}),
        echo_tool_result, echo_tool_result)
    # When the turn dies with its answer in hand, before committing it
    with dies_at("turn.before_commit", monkeypatch, tmp_path / "home"), pytest.raises(FaultInjected):
        answer_pending(settings, model, GROUP)
    # Then the redone turn replays the tool step and asks the model only for the answer
    assert answer_pending(settings, model, GROUP).outcome == TurnOutcome.REPLIED
    assert len(model.seen) == 3 and model.seen[2] == model.seen[1]
    assert len(_schedules(settings)) == 1 and len(chat_replies()) == 1


def test_a_stale_journal_is_dropped_and_never_replayed_into_another_batch(
    default_db: str, settings: Settings
) -> None:
    # Given a journal whose batch was then answered by someone else
    say("alice", "remember the milk")
    model = ScriptedModel(tool_use("save_memory", {"category": "topics", "topic": "notes", "content": "milk"}),
                          ProviderError("overloaded"))
    assert answer_pending(settings, model, GROUP).outcome == TurnOutcome.FAILED
    with write_session() as session:
        commit_reply(session, GROUP, pending_messages(session, GROUP), AgentReply("x"), "x", started_at=T0)
    # When a new message comes
    say("bob", "hello")
    fresh = ScriptedModel(lambda request: ModelStep([{"type": "text", "text": "hi bob"}], TokenUsage("s")))
    # Then its turn asks the model afresh and the old journal is gone
    assert answer_pending(settings, fresh, GROUP).outcome == TurnOutcome.REPLIED
    [asked] = fresh.seen
    assert asked[-1]["content"].split("\n\n(Now: ")[0].endswith("]: hello")
    assert all(isinstance(m["content"], str) for m in asked)  # no journaled tool step replayed
    assert journal_rows() == (0, 0)


# ---- every side-effecting tool, exactly once ------------------------------------------------


def _memory(settings: Settings) -> GroupMemory:
    return GroupMemory(workspace=settings.workspace, index_dir=settings.memory_index_dir, group_id=GROUP)


def _schedules(settings: Settings) -> list[str]:
    with read_session() as session:
        return [s.payload["text"] for s in session.scalars(select(Schedule))]


def _saved_notes(settings: Settings) -> list[str]:
    path = group_memory_root(settings.workspace, GROUP) / "topics" / "notes.md"
    return [line for line in path.read_text().splitlines() if line == "the milk is in the fridge"]


def _curated(settings: Settings) -> tuple[str, list[str]]:
    root = group_memory_root(settings.workspace, GROUP)
    return (root / "MEMORY.md").read_text(), [p.read_text() for p in memory_history(root)]


def _personality(settings: Settings) -> tuple[str, list[str]]:
    versions = previous_versions(settings.workspace, GROUP)
    return load_personality(settings.workspace, GROUP), [p.read_text() for p in versions]


def _notes_file(settings: Settings) -> Path:
    return scratch_dir(settings.workspace, GROUP) / "notes.txt"


def _prepare_notes(settings: Settings) -> None:
    from claw.sandbox.layout import ensure_group_layout

    ensure_group_layout(settings.workspace, GROUP, None)
    _notes_file(settings).parent.mkdir(parents=True, exist_ok=True)
    _notes_file(settings).write_text("first\n")


#: tool, its arguments, what to set up first, how to read its effect, the effect exactly once
TOOLS = {
    "schedule_task": (
        {"kind": "reminder", "spec": "in 10 minutes", "text": "stretch"}, None, _schedules, ["stretch"]),
    "save_memory": (
        {"category": "topics", "topic": "notes", "content": "the milk is in the fridge"}, None, _saved_notes,
        ["the milk is in the fridge"]),
    "curate_memory": (
        {"content": "- new summary"}, lambda s: _memory(s).curate("old summary", now=T0), _curated,
        ("- new summary\n", ["old summary\n"])),
    "update_personality": (
        {"content": "Version two.", "mode": "replace"}, lambda s: save_personality(s.workspace, GROUP, "Version one.\n"),
        _personality, ("Version two.\n", ["Version one.\n"])),
    "write_file": (
        {"path": "notes.txt", "content": "second\n", "mode": "append"}, _prepare_notes,
        lambda s: _notes_file(s).read_text(), "first\nsecond\n"),
}


@pytest.mark.parametrize("tool", TOOLS)
def test_a_tool_runs_once_when_the_model_fails_after_it(default_db: str, settings: Settings, tool: str) -> None:
    arguments, setup, effect, once = TOOLS[tool]
    if setup:
        setup(settings)
    say("alice", "please do it")
    model = ScriptedModel(tool_use(tool, arguments), ProviderError("overloaded"), echo_tool_result)
    # When the model fails after the tool ran, and the turn is redone
    assert answer_pending(settings, model, GROUP).outcome == TurnOutcome.FAILED
    assert answer_pending(settings, model, GROUP).outcome == TurnOutcome.REPLIED
    # Then the effect happened once, and the group got one reply built on the tool's result
    assert effect(settings) == once
    [reply] = chat_replies()
    assert reply.startswith("Done: ") and "Error" not in reply


@pytest.mark.parametrize("tool", TOOLS)
def test_a_tool_runs_once_when_the_turn_dies_right_after_it(
    default_db: str, settings: Settings, killed_after_tool: None, tool: str
) -> None:
    arguments, setup, effect, once = TOOLS[tool]
    if setup:
        setup(settings)
    say("alice", "please do it")
    model = ScriptedModel(tool_use(tool, arguments), echo_tool_result)
    # When the turn dies right after the tool returned, before the loop journaled its result
    with pytest.raises(FaultInjected):
        answer_pending(settings, model, GROUP)
    # And the turn is redone: a tool without a journaled result runs again, idempotently
    assert answer_pending(settings, model, GROUP).outcome == TurnOutcome.REPLIED
    # Then the effect happened once, the model was asked twice in all, and one reply was sent
    assert effect(settings) == once
    assert len(model.seen) == 2
    [reply] = chat_replies()
    assert reply.startswith("Done: ") and "Error" not in reply
    assert journal_rows() == (0, 0)


# ---- a turn that lost its lease (stopped, its group moved) and wakes up later ----------------


def _answered_meanwhile(step: ModelStep) -> Callable[[ModelRequest], ModelStep]:
    """The model's answer arrives after another turn of the group answered the batch (the
    worker was stopped past its lease, the group moved to another shard and was answered)."""

    def late(request: ModelRequest) -> ModelStep:
        with write_session() as session:
            pending = pending_messages(session, GROUP)
            commit_reply(session, GROUP, pending, AgentReply("moved"), "answered elsewhere", started_at=T0)
            journals.discard_journal(session, GROUP)
        return step

    return late


def test_a_stale_turn_whose_batch_was_answered_meanwhile_runs_no_tool(
    default_db: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a turn whose first model call returns (asking for a tool) only after another turn
    # of the group answered the same message
    say("alice", "remind me in 10 minutes to stretch")
    model = ScriptedModel(
        _answered_meanwhile(tool_use("schedule_task", {"kind": "reminder", "spec": "in 10 minutes",
                                                       "text": "stretch"})),
        echo_tool_result)
    # When the stale turn goes on
    result = answer_pending(settings, model, GROUP)
    # Then it stops before the tool: no second reminder, no journal, one reply
    assert result.outcome == TurnOutcome.RACED
    assert f"turn_raced group={GROUP} reason=batch_answered" in caplog.messages  # (the console's warning)
    assert _schedules(settings) == []
    assert journal_rows() == (0, 0)
    assert chat_replies() == ["answered elsewhere"]


def test_a_stale_turn_whose_resumed_journal_was_closed_meanwhile_runs_no_more_tools(
    default_db: str, settings: Settings
) -> None:
    # Given a turn that scheduled a reminder; then, while it was stopped, another turn resumed
    # its journal, answered the batch and closed the journal
    say("alice", "remind me in 10 minutes to stretch")
    model = ScriptedModel(
        tool_use("schedule_task", {"kind": "reminder", "spec": "in 10 minutes", "text": "stretch"}),
        _answered_meanwhile(tool_use("schedule_task", {"kind": "reminder", "spec": "in 20 minutes",
                                                       "text": "stretch again"})),
        echo_tool_result)
    # When the stale turn goes on with the next tool
    result = answer_pending(settings, model, GROUP)
    # Then that tool's effect does not happen and no reply of its own is written
    assert result.outcome in (TurnOutcome.RACED, TurnOutcome.FAILED)
    assert len(_schedules(settings)) == 1
    assert chat_replies() == ["answered elsewhere"]

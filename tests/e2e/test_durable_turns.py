"""Every side effect of a turn exactly once, on the real stack: each side-effecting tool, with
the model failing right after the tool ran, and with the shard worker's pool process SIGKILLed
right after it. The turn is redone (a retry after backoff; a redelivery or the sweeper after
the kill), resumes from its journal, and the group sees one effect and one reply.

The model is the real `anthropic` SDK against a fake Messages API on 127.0.0.1; the kill is a
`kill-once` fault point, armed for one test at a time by removing its "fired" marker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from claw.memory import group_memory_root, memory_history
from claw.personality import load_personality, previous_versions
from claw.workspace import scratch_dir
from tests.support.fake_anthropic import FakeAnthropic, FakeResponse, reply_error, reply_text, reply_tool_use
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack

MODEL = "claude-sonnet-4-5"
FAULT_POINTS = ("turn.after_tool", "ipc.after_effect")
PIRATE = "Answer like a pirate."


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis,
          anthropic: FakeAnthropic) -> Iterator[ClawStack]:
    home = tmp_path_factory.mktemp("claw")
    for point in FAULT_POINTS:  # disarmed until a test arms it
        fired(home, point).parent.mkdir(parents=True, exist_ok=True)
        fired(home, point).touch()
    with ClawStack(
        home, redis_server.url, shards=1, cooldown=0, llm="anthropic", model=MODEL,
        llm_retry_delay=1, llm_max_retries=0, lease_seconds=3, sandbox="bwrap",
        fault_points=",".join(f"{point}:kill-once" for point in FAULT_POINTS),
        extra_env={"ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "ANTHROPIC_BASE_URL": anthropic.url},
    ) as claw:
        yield claw


def fired(home: Path, point: str) -> Path:
    return home / "faults" / f"{point}.fired"


# ---- the tools and how to see their effects ------------------------------------------------


@dataclass(frozen=True)
class Case:
    tool: str
    arguments: dict[str, Any]
    kill_at: str  #: the fault point "right after the tool"
    says: str  #: what the tool's result says when it worked

    def prepare(self, stack: ClawStack, group_id: str) -> None:
        if self.tool == "curate_memory":  # a MEMORY.md written by hand, to be kept once in .history
            root = group_memory_root(stack.home / "workspace", group_id)
            root.mkdir(parents=True)
            (root / "MEMORY.md").write_text("old notes\n")

    def effect(self, stack: ClawStack, group_id: str) -> object:
        """What the tool did, in a form that shows it done once."""
        workspace = stack.home / "workspace"
        if self.tool == "schedule_task":
            return [r["text"] for r in stack.sql(
                "SELECT json_extract(payload, '$.text') AS text FROM schedules WHERE group_id = ?", group_id)]
        if self.tool == "save_memory":
            notes = group_memory_root(workspace, group_id) / "topics" / "notes.md"
            return notes.read_text().count("the milk is in the fridge")
        if self.tool == "curate_memory":
            root = group_memory_root(workspace, group_id)
            return (root / "MEMORY.md").read_text(), [p.read_text() for p in memory_history(root)]
        if self.tool == "update_personality":
            return load_personality(workspace, group_id).count(PIRATE), len(previous_versions(workspace, group_id))
        if self.arguments["code"].startswith("import claw_ipc"):
            return [m["text"] for m in stack.messages(group_id) if m["text"] == "hello from code"]
        return (scratch_dir(workspace, group_id) / "out.txt").read_text()


CASES = {
    "schedule_task": (
        Case("schedule_task", {"kind": "reminder", "spec": "in 10 minutes", "text": "stretch"},
             "turn.after_tool", "Reminder #"),
        ["stretch"]),
    "save_memory": (
        Case("save_memory", {"category": "topics", "topic": "notes", "content": "the milk is in the fridge"},
             "turn.after_tool", "I'll remember that"),
        1),
    "curate_memory": (
        Case("curate_memory", {"content": "- the summary"}, "turn.after_tool", "is rewritten"),
        ("- the summary\n", ["old notes\n"])),
    "update_personality": (
        Case("update_personality", {"content": PIRATE, "mode": "append"}, "turn.after_tool",
             "Personality updated"),
        (1, 0)),
    # killed inside the running code, right after its message was committed
    "send_message": (
        Case("run_code", {"language": "python",
                          "code": "import claw_ipc\nclaw_ipc.send_message('hello from code')\nprint('sent')"},
             "ipc.after_effect", "exit code 0"),
        ["hello from code"]),
    "run_code_file": (
        Case("run_code", {"language": "python", "code": "open('out.txt', 'a').write('ran\\n')\nprint('written')"},
             "turn.after_tool", "exit code 0"),
        "ran\n"),
}


def final_answer(body: dict[str, Any]) -> FakeResponse:
    """The model's answer once it has its tool's result: that result, word for word."""
    last = body["messages"][-1]["content"]
    results = [b for b in last if b.get("type") == "tool_result"] if isinstance(last, list) else []
    if not results:
        return reply_text("asked again from scratch")  # never expected: fails the reply check
    content = results[0]["content"]
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    return reply_text(f"Done: {text}")


@pytest.mark.parametrize("failure", ["model-fails", "killed"])
@pytest.mark.parametrize("name", CASES)
def test_a_redone_turn_does_each_tools_effect_once_and_replies_once(
    stack: ClawStack, anthropic: FakeAnthropic, name: str, failure: str
) -> None:
    case, once = CASES[name]
    chat = f"{name}-{failure}".replace("_", "-")
    group_id = f"http:{chat}"
    case.prepare(stack, group_id)
    # Given a model that calls the tool, then (model-fails) is overloaded once, then answers
    call = reply_tool_use(case.tool, case.arguments, tool_id=f"toolu_{name}")
    overloaded = reply_error(529, "overloaded_error", "Overloaded")
    anthropic.script(*([call, overloaded, final_answer] if failure == "model-fails" else [call, final_answer]))
    if failure == "killed":  # the pool process dies right after the tool
        fired(stack.home, case.kill_at).unlink()
    asked_before = len(anthropic.requests)
    # When someone asks
    stack.post(chat, f"please {name}", sender="Ann")
    messages = stack.wait_answered(group_id, 1, timeout=90)
    # Then the failure really happened, and the turn was redone
    if failure == "killed":
        assert fired(stack.home, case.kill_at).exists(), "the fault point never fired"
        assert len(anthropic.requests) - asked_before == 2
    else:
        assert len([m for m in messages if m["kind"] == "notice"]) == 1
        assert len(anthropic.requests) - asked_before == 3
    # And the tool's effect happened exactly once
    assert case.effect(stack, group_id) == once
    # And the group got exactly one reply, built on the tool's result
    replies = [m["text"] for m in messages
               if m["role"] == "assistant" and m["kind"] == "chat" and m["text"] != "hello from code"]
    assert len(replies) == 1, replies
    assert replies[0].startswith("Done: ") and case.says in replies[0], replies
    # And the journal was closed with the reply
    assert stack.sql("SELECT COUNT(*) AS n FROM turn_journals WHERE group_id = ?", group_id) == [{"n": 0}]

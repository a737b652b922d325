"""The chaos run's model: a fake Anthropic API scripted from the seed, which fails on purpose.

Per model call it reads the turn's new messages from the request (the lines after the
``(new messages)`` header, ``[sender @ time]: text``; claw/agent/transcript.py), and answers:

- first, the tool calls this turn's plan asks for, one per call: ``schedule_task`` (a reminder
  in 2099, so it never fires during the run), ``save_memory``, and ``run_code`` whose Python
  posts an IPC message. Each carries a token made from the turn's first message id, so the same
  turn asking again (a redone turn) asks for the same effect, and a tally can count effects;
- then a reply that echoes every new message id, in order: ``ack: c03.0042 c03.0043``.

The plan is a function of (seed, first message id): a redone turn replays the same script.
Failures are drawn from a seeded generator per call, ``failure_rate`` of them, evenly spread
over 429, 529, 500, a hang past the client's timeout, and a stream cut mid-way. (Which request
gets which draw depends on the order the calls arrive in, which concurrency decides.)
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from claw.agent.transcript import NEW_MESSAGES_HEADER
from claw.chaos.fakes.anthropic import (
    AnthropicServer,
    FakeResponse,
    reply_error,
    reply_text,
    reply_tool_use,
)
from claw.chaos.ids import message_ids, token

#: a reminder that cannot fire while the run lasts (and within the scheduler's 10-year horizon:
#: a spec further out is refused, and the run would count no schedule effect at all)
FAR_FUTURE = "in 300 days"
#: chance that a turn's plan holds each tool effect
TOOL_CHANCES = {"schedule": 0.25, "memory": 0.25, "ipc": 0.2}
#: events a cut stream gets out before the connection drops (message_start, ping, a block start)
CUT_AFTER_EVENTS = 3


class Failure(StrEnum):
    RATE_LIMITED = "429"
    OVERLOADED = "529"
    SERVER_ERROR = "500"
    TIMEOUT = "timeout"
    STREAM_CUT = "stream cut"


@dataclass(frozen=True, slots=True)
class TurnView:
    """What one model call shows of the turn: its new message ids and how far its tools got."""

    ids: list[str]
    step: int  #: assistant answers already in this turn's conversation (tool steps done)

    @property
    def key(self) -> str:
        return self.ids[0] if self.ids else ""


@dataclass(frozen=True, slots=True)
class InFlight:
    turn_key: str
    step: int
    since: float


@dataclass
class ModelStats:
    calls: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    #: how often each tool token was asked for (more than once is normal: a turn the model
    #: failed is retried from the start; the effect must still happen once)
    asked: Counter[str] = field(default_factory=Counter)


def _text(content: Any) -> str | None:
    """A user message's text: a string, or its text blocks (None when it holds tool results)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(b.get("type") == "text" for b in content):
        return "".join(b.get("text", "") for b in content)
    return None


def read_turn(body: dict[str, Any]) -> TurnView:
    messages = body.get("messages") or []
    last = max((i for i, m in enumerate(messages)
                if m.get("role") == "user" and _text(m.get("content")) is not None), default=None)
    if last is None:
        return TurnView([], 0)
    lines = (_text(messages[last]["content"]) or "").split("\n")
    if NEW_MESSAGES_HEADER in lines:
        lines = lines[len(lines) - lines[::-1].index(NEW_MESSAGES_HEADER):]
    ids = [found for line in lines if line.startswith("[") for found in message_ids(line)]
    step = sum(1 for m in messages[last + 1:] if m.get("role") == "assistant")
    return TurnView(ids, step)


def tool_plan(seed: int, turn_key: str) -> list[str]:
    """Which tool effects the turn starting at ``turn_key`` asks for, in order."""
    rng = random.Random(f"{seed}:{turn_key}")
    return [kind for kind, chance in TOOL_CHANCES.items() if rng.random() < chance]


def tool_call(kind: str, turn_key: str) -> FakeResponse:
    mark = token(kind, turn_key)
    if kind == "schedule":
        return reply_tool_use("schedule_task", {"kind": "reminder", "spec": FAR_FUTURE, "text": mark})
    if kind == "memory":
        return reply_tool_use("save_memory", {"category": "topics", "topic": "chaos", "content": mark})
    code = f"import claw_ipc\nclaw_ipc.send_message({mark!r})\n"
    return reply_tool_use("run_code", {"language": "python", "code": code})


class ScriptedModel(AnthropicServer):
    keep_requests = False

    def __init__(self, *, seed: int, failure_rate: float, hang_seconds: float,
                 latency: tuple[float, float] = (0.05, 0.3)) -> None:
        self.seed = seed
        self.failure_rate = failure_rate
        self.hang_seconds = hang_seconds
        self.latency = latency
        self.stats = ModelStats()
        self.inflight: dict[int, InFlight] = {}
        self._draws = random.Random(f"{seed}:calls")
        super().__init__()

    def respond(self, body: dict[str, Any], client_port: int) -> FakeResponse:
        turn = read_turn(body)
        with self.lock:
            self.stats.calls += 1
            failure = self._draw_failure()
            delay = self._draws.uniform(*self.latency)
            self.inflight[client_port] = InFlight(turn.key, turn.step, time.monotonic())
            if failure is not None:
                self.stats.failures[failure] += 1
        answer, asked = self._answer(turn)
        if failure is not None:
            return self._fail(failure, answer)
        if asked is not None:
            with self.lock:
                self.stats.asked[asked] += 1
        answer.delay = delay
        return answer

    def finished(self, client_port: int) -> None:
        with self.lock:
            self.inflight.pop(client_port, None)

    def calls_in_flight(self) -> dict[int, InFlight]:
        with self.lock:
            return dict(self.inflight)

    def _draw_failure(self) -> Failure | None:
        if self._draws.random() >= self.failure_rate:
            return None
        return self._draws.choice(list(Failure))

    def _answer(self, turn: TurnView) -> tuple[FakeResponse, str | None]:
        """The scripted answer, and the token of the tool effect it asks for (if any)."""
        plan = tool_plan(self.seed, turn.key) if turn.ids else []
        if turn.step < len(plan):
            kind = plan[turn.step]
            return tool_call(kind, turn.key), token(kind, turn.key)
        return reply_text("ack: " + " ".join(turn.ids)), None

    def _fail(self, failure: Failure, answer: FakeResponse) -> FakeResponse:
        if failure == Failure.RATE_LIMITED:
            return reply_error(429, "rate_limit_error", "Number of requests has exceeded your rate limit")
        if failure == Failure.OVERLOADED:
            return reply_error(529, "overloaded_error", "Overloaded")
        if failure == Failure.SERVER_ERROR:
            return reply_error(500, "api_error", "Internal server error")
        if failure == Failure.TIMEOUT:
            answer.delay = self.hang_seconds
            return answer
        answer.cut_after = CUT_AFTER_EVENTS
        return answer

"""The chaos run's scripted model, through the real ``anthropic`` SDK and claw's ClaudeProvider.

It must read a turn's new messages exactly as claw writes them, replay the same tool script
for the same turn, and fail in the ways the run counts on (a cut stream, a hang past the
client's timeout) so that claw sees real SDK errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from claw.agent.base import ChatLine, ModelRequest, ProviderError, TurnInput
from claw.agent.claude import ClaudeProvider
from claw.agent.transcript import to_chat_turns
from claw.chaos.fakes.anthropic import AnthropicServer, FakeResponse, reply_text
from claw.chaos.fakes.model import Failure, ScriptedModel, read_turn, tool_plan
from claw.chaos.ids import message_ids, token, tokens

AT = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def line(role: str, text: str) -> ChatLine:
    return ChatLine(role, "alice" if role == "user" else "claw", text, AT)


def turn(history: list[ChatLine], new: list[str]) -> list[dict[str, Any]]:
    return to_chat_turns(TurnInput("http:g", "sys", history, [line("user", t) for t in new]))


def a_key_with_tools(seed: int) -> str:
    return next(f"c01.{n:04d}" for n in range(1, 100) if tool_plan(seed, f"c01.{n:04d}"))


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    server = ScriptedModel(seed=7, failure_rate=0.0, hang_seconds=1.0, latency=(0, 0)).start()
    yield server
    server.stop()


def claude(url: str, **options: Any) -> ClaudeProvider:
    return ClaudeProvider(model="claude-test", api_key="sk-ant-chaos-test-key-0000",
                          base_url=url, **{"max_retries": 0, "timeout": 5.0, **options})


def test_only_the_new_messages_are_read_and_tool_steps_counted() -> None:
    # Given history (answered messages and a reply) and two new messages
    history = [line("user", "chaos c01.0001 please ack"), line("assistant", "ack: c01.0001")]
    messages = turn(history, ["chaos c01.0002 please ack", "chaos c01.0003 please ack"])
    # When the model reads the request, Then it sees only the new ids, no tool step yet
    view = read_turn({"messages": messages})
    assert (view.ids, view.step, view.key) == (["c01.0002", "c01.0003"], 0, "c01.0002")
    # And after one tool round trip it knows it is one step further into the same turn
    messages += [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "x", "input": {}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]
    assert read_turn({"messages": messages}).step == 1


def test_without_history_every_line_is_new() -> None:
    view = read_turn({"messages": turn([], ["chaos c02.0001 please ack"])})
    assert view.ids == ["c02.0001"]


def test_the_tool_script_is_a_function_of_seed_and_turn() -> None:
    keys = [f"c00.{n:04d}" for n in range(1, 200)]
    assert [tool_plan(3, k) for k in keys] == [tool_plan(3, k) for k in keys]
    assert any(tool_plan(3, k) for k in keys) and any(not tool_plan(3, k) for k in keys)
    assert [tool_plan(3, k) for k in keys] != [tool_plan(4, k) for k in keys]


def test_tokens_and_message_ids_never_look_alike() -> None:
    mark = token("ipc", "c03.0042")
    assert message_ids(mark) == [] and tokens(f"x {mark} y") == [mark]
    assert message_ids("ack: c03.0042 c03.0043") == ["c03.0042", "c03.0043"]


def test_a_turn_gets_its_tool_calls_then_a_reply_echoing_every_new_id(model: ScriptedModel) -> None:
    # Given a turn whose first message has tool effects in the seed's script
    key = a_key_with_tools(model.seed)
    second = f"c01.{int(key[4:]) + 1:04d}"
    messages = turn([], [f"chaos {key} please ack", f"chaos {second} please ack"])
    provider = claude(model.url)
    plan = tool_plan(model.seed, key)
    # When the loop answers every tool call
    for kind in plan:
        step = provider.step(ModelRequest("sys", messages))
        (call,) = step.tool_calls
        # Then each call carries the effect's token
        assert token(kind, key) in str(call.input)
        messages += [{"role": "assistant", "content": step.content},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                   "content": "done"}]}]
    final = provider.step(ModelRequest("sys", messages))
    # Then the reply echoes both ids in order, and the model counted each effect it asked for once
    assert final.tool_calls == [] and final.text == f"ack: {key} {second}"
    assert sorted(model.stats.asked) == sorted(token(kind, key) for kind in plan)


class OneFailure(AnthropicServer):
    """Answers every call with the scripted model's version of one failure."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        self.model = ScriptedModel(seed=1, failure_rate=1.0, hang_seconds=1.5, latency=(0, 0))
        super().__init__()

    def respond(self, body: dict[str, Any], client_port: int) -> FakeResponse:
        return self.model._fail(self.failure, reply_text("a long enough answer to be cut off"))


@pytest.mark.parametrize("failure", list(Failure))
def test_every_failure_reaches_claw_as_a_retryable_provider_error(failure: Failure) -> None:
    # Given the model failing every call one way, and a client that does not retry
    server = OneFailure(failure).start()
    try:
        # When claw asks, Then it gets an error it may retry later (never a reply, never a crash)
        with pytest.raises(ProviderError) as caught:
            claude(server.url, timeout=0.5).step(ModelRequest("sys", [{"role": "user", "content": "hi"}]))
        assert caught.value.retryable is True
    finally:
        server.stop()

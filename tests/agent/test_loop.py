"""The agent loop (claw.agent.loop) through the real SDKs against fake model servers on
127.0.0.1: the same behaviour with Claude and with an OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from claw.agent import ChatLine, Provider, ProviderError, TurnInput
from claw.agent.claude import ClaudeProvider
from claw.agent.loop import MAX_ITERATIONS_NOTE, run_agent
from claw.agent.openai_compat import OpenAIProvider
from claw.agent.tools import ToolContext, ToolError, ToolRegistry, tool
from claw.config import Settings
from tests.support import fake_anthropic, fake_openai

T0 = datetime(2026, 3, 1, 14, 34, tzinfo=timezone.utc)


@tool
def weather(ctx: ToolContext, city: str) -> str:
    """Today's weather in a city."""
    if city == "Atlantis":
        raise ToolError("no weather station in Atlantis")
    return f"sunny in {city}"


class ModelServer:
    """One fake model server and how to script and read it, whatever its wire format."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fake: Any = (fake_anthropic.FakeAnthropic() if kind == "anthropic" else fake_openai.FakeOpenAI()).start()

    def provider(self, **kwargs: Any) -> Provider:
        if self.kind == "anthropic":
            return ClaudeProvider(model="claude-sonnet-4-5", api_key="sk-test-key-0123456789",
                                  base_url=self.fake.url, **kwargs)
        return OpenAIProvider(model="local-model", base_url=self.fake.url, api_key="sk-test-key-0123456789", **kwargs)

    def tool_call(self, name: str, arguments: dict[str, Any], call_id: str, tokens: tuple[int, int] = (10, 5)) -> Any:
        if self.kind == "anthropic":
            return fake_anthropic.reply_tool_use(name, arguments, tool_id=call_id,
                                                 input_tokens=tokens[0], output_tokens=tokens[1])
        return fake_openai.reply_tool_calls([(name, arguments, call_id)],
                                            prompt_tokens=tokens[0], completion_tokens=tokens[1])

    def text(self, text: str, tokens: tuple[int, int] = (10, 5)) -> Any:
        if self.kind == "anthropic":
            return fake_anthropic.reply_text(text, input_tokens=tokens[0], output_tokens=tokens[1])
        return fake_openai.reply_text(text, prompt_tokens=tokens[0], completion_tokens=tokens[1])

    def error(self, status: int) -> Any:
        if self.kind == "anthropic":
            kind = {401: "authentication_error", 529: "overloaded_error"}.get(status, "api_error")
            return fake_anthropic.reply_error(status, kind, "scripted failure")
        return fake_openai.reply_error(status, "scripted failure")

    def bodies(self) -> list[dict[str, Any]]:
        return [r.body if self.kind == "anthropic" else r.json for r in self.fake.requests]

    def tool_results(self, body: dict[str, Any]) -> list[tuple[str, str, bool]]:
        """(call id, content, is_error) of the tool results a request carried back."""
        if self.kind == "anthropic":
            last = body["messages"][-1]["content"]
            return [(b["tool_use_id"], b["content"], bool(b.get("is_error"))) for b in last
                    if b["type"] == "tool_result"]
        messages = body["messages"]
        last_assistant = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        return [(m["tool_call_id"], m["content"].removeprefix("ERROR: "), m["content"].startswith("ERROR: "))
                for m in messages[last_assistant + 1:] if m["role"] == "tool"]


@pytest.fixture(params=["anthropic", "openai"])
def server(request: pytest.FixtureRequest) -> Iterator[ModelServer]:
    model = ModelServer(request.param)
    yield model
    model.fake.stop()


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext("http:team", tmp_path, Settings())


def turn(text: str) -> TurnInput:
    return TurnInput("http:team", "You are claw.", [], [ChatLine("user", "Alice", text, T0)])


def run(provider: Provider, ctx: ToolContext, text: str = "weather?", *, max_iterations: int = 10):  # type: ignore[no-untyped-def]
    return run_agent(provider, turn(text), ToolRegistry([weather]), ctx,
                     max_iterations=max_iterations, history_token_budget=8000)


def test_tool_use_then_result_then_final_text(server: ModelServer, ctx: ToolContext) -> None:
    # Given a model that asks for a tool, then answers with its result
    server.fake.script(server.tool_call("weather", {"city": "Oslo"}, "call_1"),
                       server.text("It is sunny in Oslo."))
    # When the loop runs
    reply = run(server.provider(), ctx)
    # Then the user gets the final text, after two model calls
    assert reply.text == "It is sunny in Oslo."
    assert reply.iterations == 2
    # And the second request carried the tool's result under the call's id
    first, second = server.bodies()
    assert server.tool_results(second) == [("call_1", "sunny in Oslo", False)]
    # And the tool was described to the model with its generated schema
    tools = first["tools"]
    described = tools[0] if server.kind == "anthropic" else tools[0]["function"]
    schema = described["input_schema" if server.kind == "anthropic" else "parameters"]
    assert schema["required"] == ["city"]


def test_a_failing_tool_is_reported_back_as_an_error_so_the_model_adapts(server: ModelServer, ctx: ToolContext) -> None:
    server.fake.script(server.tool_call("weather", {"city": "Atlantis"}, "call_a"),
                       server.tool_call("weather", {"town": "Oslo"}, "call_b"),
                       server.text("Atlantis has no station, sorry."))
    reply = run(server.provider(), ctx)
    assert reply.text == "Atlantis has no station, sorry."
    _, second, third = server.bodies()
    assert server.tool_results(second) == [("call_a", "no weather station in Atlantis", True)]
    [(call_id, content, is_error)] = server.tool_results(third)
    assert (call_id, is_error) == ("call_b", True)
    assert "city: Field required" in content


def test_max_iterations_stops_the_loop_with_a_clear_message(server: ModelServer, ctx: ToolContext) -> None:
    server.fake.script(*[server.tool_call("weather", {"city": f"c{n}"}, f"call_{n}") for n in range(5)])
    reply = run(server.provider(), ctx, max_iterations=3)
    assert len(server.bodies()) == 3
    assert reply.text.endswith(MAX_ITERATIONS_NOTE.format(n=3))


def test_usage_is_summed_over_the_model_calls_of_a_turn(server: ModelServer, ctx: ToolContext) -> None:
    server.fake.script(server.tool_call("weather", {"city": "Oslo"}, "c1", tokens=(100, 20)),
                       server.tool_call("weather", {"city": "Rome"}, "c2", tokens=(150, 30)),
                       server.text("done", tokens=(200, 7)))
    [usage] = run(server.provider(), ctx).usage
    assert (usage.input_tokens, usage.output_tokens) == (450, 57)


def test_an_overloaded_model_is_retried_and_answers_once(server: ModelServer, ctx: ToolContext) -> None:
    status = 529 if server.kind == "anthropic" else 503
    server.fake.script(server.error(status), server.error(status), server.text("finally"))
    reply = run(server.provider(max_retries=3), ctx)
    assert reply.text == "finally"
    assert len(server.bodies()) == 3


def test_bad_credentials_are_a_non_retryable_error(server: ModelServer, ctx: ToolContext) -> None:
    server.fake.script(server.error(401))
    with pytest.raises(ProviderError) as failure:
        run(server.provider(max_retries=3), ctx)
    assert failure.value.retryable is False
    assert len(server.bodies()) == 1
    assert "sk-test-key" not in str(failure.value)

"""OpenAIProvider through the real ``openai`` SDK against a fake OpenAI-compatible server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from claw.agent.base import ModelRequest, ProviderError, TokenUsage, ToolCall, ToolSpec
from claw.agent.openai_compat import OpenAIProvider
from claw.bench.processes import free_port
from tests.support.fake_openai import FakeOpenAI, reply_error, reply_text, reply_tool_calls

API_KEY = "sk-test-very-secret-0123456789"
WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    input_schema={"type": "object", "properties": {"city": {"type": "string"}},
                  "required": ["city"]},
)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def provider(fake: FakeOpenAI) -> OpenAIProvider:
    return OpenAIProvider(model="llama3.1", base_url=fake.url, api_key=API_KEY, max_retries=2,
                          timeout=5.0)


def ask(text: str, **kwargs: Any) -> ModelRequest:
    return ModelRequest(system="You are claw.", messages=[{"role": "user", "content": text}],
                        **kwargs)


def test_plain_text_answer(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    # Given a server that answers with text
    fake.script(reply_text("Hello, Alice!"))
    streamed: list[str] = []

    # When the provider takes one step
    step = provider.step(ask("hi", on_text=streamed.append))

    # Then the text comes back as one canonical block, and on_text saw it once
    assert step.content == [{"type": "text", "text": "Hello, Alice!"}]
    assert step.stop_reason == "end_turn" and step.tool_calls == []
    assert streamed == ["Hello, Alice!"]
    # And the request carried the system prompt first, the model, the key, and no tools
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "llama3.1"
    assert sent.json["messages"] == [{"role": "system", "content": "You are claw."},
                                     {"role": "user", "content": "hi"}]
    assert "tools" not in sent.json and not sent.json.get("stream")
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"


def test_tools_are_sent_as_functions_with_their_schema(fake: FakeOpenAI,
                                                       provider: OpenAIProvider) -> None:
    provider.step(ask("weather?", tools=[WEATHER]))

    assert fake.requests[-1].json["tools"] == [{
        "type": "function",
        "function": {"name": "get_weather", "description": "Current weather for a city.",
                     "parameters": WEATHER.input_schema},
    }]


def test_tool_calls_become_tool_use_blocks(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    # Given a model that says something and calls two tools
    fake.script(reply_tool_calls([("get_weather", {"city": "Paris"}, "call_a"),
                                  ("get_weather", {"city": "Oslo"}, "call_b")],
                                 text="Checking."))

    step = provider.step(ask("weather in Paris and Oslo?", tools=[WEATHER]))

    assert step.stop_reason == "tool_use"
    assert step.content == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_b", "name": "get_weather", "input": {"city": "Oslo"}},
    ]
    assert step.tool_calls == [ToolCall("call_a", "get_weather", {"city": "Paris"}),
                               ToolCall("call_b", "get_weather", {"city": "Oslo"})]


def test_tool_results_go_back_as_tool_messages(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    # Given a first step that asked for two tool calls
    fake.script(reply_tool_calls([("get_weather", {"city": "Paris"}, "call_a"),
                                  ("get_weather", {"city": "Atlantis"}, "call_b")]),
                reply_text("Paris is sunny; Atlantis is unknown."))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather?"}]
    first = provider.step(ModelRequest("You are claw.", messages, [WEATHER]))

    # When the loop sends the assistant blocks back with one result and one error
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_a", "content": "sunny, 21C"},
            {"type": "tool_result", "tool_use_id": "call_b", "content": "no such city",
             "is_error": True},
        ]},
    ]
    second = provider.step(ModelRequest("You are claw.", messages, [WEATHER]))

    # Then the server saw the assistant tool calls and one tool message per result, ids matching
    assert second.text == "Paris is sunny; Atlantis is unknown."
    assert fake.requests[-1].json["messages"] == [
        {"role": "system", "content": "You are claw."},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Atlantis"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny, 21C"},
        {"role": "tool", "tool_call_id": "call_b", "content": "ERROR: no such city"},
    ]


def test_text_beside_tool_results_follows_the_tool_messages(fake: FakeOpenAI,
                                                           provider: OpenAIProvider) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "text", "text": "[Bob] and Milan?"},
            {"type": "tool_result", "tool_use_id": "call_a",
             "content": [{"type": "text", "text": "hot"}]},
        ]},
    ]

    provider.step(ModelRequest("sys", messages, [WEATHER]))

    assert fake.requests[-1].json["messages"][2:] == [
        {"role": "assistant", "content": "Looking.", "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "hot"},
        {"role": "user", "content": "[Bob] and Milan?"},
    ]


def test_invalid_json_arguments_are_passed_on_raw(fake: FakeOpenAI,
                                                 provider: OpenAIProvider) -> None:
    # Given a small model that writes broken JSON, and one that sends "" for no arguments
    fake.script(reply_tool_calls([("get_weather", '{"city": "Par', "call_x"),
                                  ("get_weather", "", "call_y")]))

    step = provider.step(ask("weather?", tools=[WEATHER]))

    raw = {"_raw_arguments": '{"city": "Par'}
    assert step.tool_calls == [ToolCall("call_x", "get_weather", raw),
                               ToolCall("call_y", "get_weather", {})]


def test_usage_is_mapped_and_missing_usage_is_zero(fake: FakeOpenAI,
                                                  provider: OpenAIProvider) -> None:
    fake.script(reply_text("a", prompt_tokens=120, completion_tokens=7, cached_tokens=100),
                reply_text("b", with_usage=False))

    assert provider.step(ask("x")).usage == TokenUsage("llama3.1", 120, 7, 100, 0)
    assert provider.step(ask("y")).usage == TokenUsage("llama3.1", 0, 0, 0, 0)


def test_length_finish_maps_to_max_tokens(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.script(reply_text("truncat", finish_reason="length"))

    assert provider.step(ask("long story")).stop_reason == "max_tokens"


def test_a_scripted_callable_sees_the_request(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.script(lambda request: reply_text(f"{len(request['messages'])} messages"))

    assert provider.step(ask("count")).text == "2 messages"


def test_server_errors_are_retried_by_the_sdk(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    # Given a server that fails twice, then answers
    fake.script(reply_error(500, "boom"), reply_error(503, "overloaded"), reply_text("finally"))

    # When the provider takes one step
    started = time.monotonic()
    step = provider.step(ask("hi"))

    # Then the SDK retried (quickly, honouring retry-after-ms) and one answer came back
    assert step.text == "finally"
    assert len(fake.requests) == 3
    assert time.monotonic() - started < 3


def test_persistent_overload_is_a_retryable_provider_error(fake: FakeOpenAI,
                                                          provider: OpenAIProvider) -> None:
    fake.script(*[reply_error(429, "slow down")] * 3)

    with pytest.raises(ProviderError) as raised:
        provider.step(ask("hi"))

    assert raised.value.retryable is True
    assert "429" in str(raised.value)
    assert len(fake.requests) == 3  # the first try and max_retries=2


def test_bad_key_is_final_and_never_echoed(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    # Given a server that, like OpenAI, quotes the wrong key in its error
    fake.script(reply_error(401, f"Incorrect API key provided: {API_KEY}."))

    with pytest.raises(ProviderError) as raised:
        provider.step(ask("hi"))

    assert raised.value.retryable is False
    assert API_KEY not in str(raised.value)
    assert "API key" in str(raised.value)
    assert len(fake.requests) == 1  # 401 is not retried


def test_bad_request_is_final_and_says_why(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.script(reply_error(400, f"model does not support tools (key {API_KEY})"))

    with pytest.raises(ProviderError) as raised:
        provider.step(ask("hi", tools=[WEATHER]))

    assert raised.value.retryable is False
    assert "does not support tools" in str(raised.value)
    assert API_KEY not in str(raised.value)


def test_unknown_model_is_final(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.script(reply_error(404, "model 'llama3.1' not found, try pulling it first"))

    with pytest.raises(ProviderError) as raised:
        provider.step(ask("hi"))

    assert raised.value.retryable is False
    assert "llama3.1" in str(raised.value)


def test_unreachable_server_is_retryable() -> None:
    provider = OpenAIProvider(model="m", base_url=f"http://127.0.0.1:{free_port()}/v1",
                              api_key=None, max_retries=0, timeout=2.0)

    with pytest.raises(ProviderError) as raised:
        provider.step(ask("hi"))

    assert raised.value.retryable is True
    assert "cannot reach" in str(raised.value)

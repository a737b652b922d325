"""ClaudeProvider through the real ``anthropic`` SDK against a fake Messages API over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claw.agent.base import ModelRequest, ProviderError, TokenUsage, ToolCall, ToolSpec
from claw.agent.claude import ClaudeProvider
from tests.support.fake_anthropic import (
    FakeAnthropic,
    FakeResponse,
    reply_error,
    reply_stream_error,
    reply_text,
    reply_tool_use,
)

KEY = "sk-ant-test-0123456789-secret"
MODEL = "claude-test"
WEATHER = ToolSpec("get_weather", "Weather for a city.",
                   {"type": "object", "properties": {"city": {"type": "string"}}})
CLOCK = ToolSpec("now", "The current time.", {"type": "object", "properties": {}})


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


def claude(fake: FakeAnthropic, **options: Any) -> ClaudeProvider:
    return ClaudeProvider(model=MODEL, api_key=KEY, base_url=fake.url,
                          **{"max_retries": 2, "timeout": 5.0, **options})


def sent_key(headers: dict[str, str]) -> str:
    # SDK 2.x sends the key as a bearer token; older ones as x-api-key.
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


def ask(text: str = "hi", **options: Any) -> ModelRequest:
    return ModelRequest(system="You are claw.", messages=[{"role": "user", "content": text}],
                        **options)


def test_text_streams_to_on_text_in_order(fake: FakeAnthropic) -> None:
    # Given a model answer long enough to arrive in several deltas
    answer = "Hello there, this answer streams in pieces."
    fake.script(reply_text(answer))
    deltas: list[str] = []

    # When the provider asks with a progress callback
    step = claude(fake).step(ask(on_text=deltas.append))

    # Then every delta reached the callback in order, and the final text is whole
    assert len(deltas) > 3
    assert "".join(deltas) == answer == step.text
    assert step.stop_reason == "end_turn" and step.tool_calls == []
    sent = fake.requests[0]
    assert sent.body["stream"] is True and sent.body["model"] == MODEL
    assert sent.body["max_tokens"] == 4096
    assert sent_key(sent.headers) == KEY and "anthropic-version" in sent.headers


def test_tool_use_blocks_go_back_unchanged_with_the_tool_result(fake: FakeAnthropic) -> None:
    # Given a model that first calls a tool (after a sentence), then answers
    fake.script(reply_tool_use("get_weather", {"city": "Paris", "days": [1, 2]},
                               tool_id="toolu_01ABC", text="Let me check."),
                reply_text("Sunny in Paris."))
    provider = claude(fake)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]

    # When the tool call is answered and the conversation continues
    first = provider.step(ModelRequest("You are claw.", messages, tools=[WEATHER]))
    assert first.stop_reason == "tool_use"
    assert first.tool_calls == [ToolCall("toolu_01ABC", "get_weather",
                                         {"city": "Paris", "days": [1, 2]})]
    assert first.content == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01ABC", "name": "get_weather",
         "input": {"city": "Paris", "days": [1, 2]}},
    ]
    result = {"type": "tool_result", "tool_use_id": "toolu_01ABC", "content": "sunny",
              "is_error": False}
    messages += [{"role": "assistant", "content": first.content},
                 {"role": "user", "content": [result]}]
    second = provider.step(ModelRequest("You are claw.", messages, tools=[WEATHER]))

    # Then the API received the assistant blocks exactly as returned, plus the tool result
    # (marked as the end of the prefix the next call may read from the cache)
    assert second.text == "Sunny in Paris."
    assert fake.requests[1].body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{**result, "cache_control": {"type": "ephemeral"}}]},
    ]
    assert messages[-1]["content"] == [result]  # the loop's own copy stays unmarked


def test_system_prompt_and_last_tool_carry_cache_breakpoints(fake: FakeAnthropic) -> None:
    # When a request has a system prompt and two tools
    claude(fake).step(ask(tools=[CLOCK, WEATHER]))

    # Then the system block and only the last tool are marked for caching
    body = fake.requests[0].body
    assert body["system"] == [{"type": "text", "text": "You are claw.",
                               "cache_control": {"type": "ephemeral"}}]
    assert body["tools"] == [
        {"name": "now", "description": "The current time.", "input_schema": CLOCK.input_schema},
        {"name": "get_weather", "description": "Weather for a city.",
         "input_schema": WEATHER.input_schema, "cache_control": {"type": "ephemeral"}},
    ]


def breakpoints(body: dict[str, Any]) -> list[str]:
    """Where the request's cache breakpoints are, in the API's order tools → system → messages."""
    marks = [f"tool {t['name']}" for t in body.get("tools", []) if "cache_control" in t]
    marks += ["system" for b in body.get("system", []) if "cache_control" in b]
    marks += [f"message {i} block {j}" for i, m in enumerate(body["messages"])
              for j, b in enumerate(m["content"]) if "cache_control" in b]
    return marks


def test_the_history_end_and_the_last_message_carry_the_other_two_breakpoints(
    fake: FakeAnthropic
) -> None:
    # Given a conversation of three history messages, then the new ones with a tool loop
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "[Ann @ 9:00 AM]: hi"},
        {"role": "assistant", "content": "Hello Ann."},
        {"role": "user", "content": "[Ann @ 9:01 AM]: thanks"},
        {"role": "assistant", "content": "Any time."},
        {"role": "user", "content": "(new messages)\n[Ann @ 9:05 AM]: weather?\n\n(Now: ...)"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "snow"},
                                     {"type": "text", "text": "(also this)"}]},
    ]

    # When the provider sends it, four messages being the stable history
    claude(fake).step(ModelRequest("You are claw.", messages, tools=[CLOCK, WEATHER], history_end=4))

    # Then exactly four breakpoints: the last tool, the system prompt, the last block of the
    # history's last message and the last block of the last message
    body = fake.requests[0].body
    assert breakpoints(body) == ["tool get_weather", "system", "message 3 block 0", "message 6 block 1"]
    # And every message went out as blocks, the text unchanged
    assert body["messages"][0]["content"] == [{"type": "text", "text": "[Ann @ 9:00 AM]: hi"}]
    assert body["messages"][4]["content"][0]["text"].endswith("(Now: ...)")
    # And a history that is the whole conversation has one message breakpoint, not two
    claude(fake).step(ModelRequest("", messages[:3], history_end=3))
    assert breakpoints(fake.requests[1].body) == ["message 2 block 0"]


def test_no_tools_and_no_system_are_left_out(fake: FakeAnthropic) -> None:
    claude(fake).step(ModelRequest("", [{"role": "user", "content": "hi"}]))

    assert "tools" not in fake.requests[0].body and "system" not in fake.requests[0].body


def test_usage_including_cache_reads_and_writes(fake: FakeAnthropic) -> None:
    fake.script(reply_text("x", input_tokens=123, output_tokens=45, cache_read=1000,
                           cache_write=200))

    step = claude(fake).step(ask())

    assert step.usage == TokenUsage(MODEL, 123, 45, 1000, 200)


def test_overload_is_retried_by_the_sdk_then_succeeds(fake: FakeAnthropic) -> None:
    # Given an API that is overloaded four times
    fake.script(*[reply_error(529, "overloaded_error", "Overloaded")] * 4, reply_text("finally"))
    started = time.monotonic()

    # When one step is asked for
    step = claude(fake, max_retries=4).step(ask())

    # Then the SDK retried and one answer came back
    assert step.text == "finally"
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2", "3", "4"]
    # And it waited what the API's retry-after-ms asked (10 ms), not its own backoff, which
    # for four retries is at least 0.375 + 0.75 + 1.5 + 3 s: a bound far from both
    assert time.monotonic() - started < 4.0


def test_bad_key_is_not_retryable_and_never_shown(fake: FakeAnthropic) -> None:
    # Given an API that refuses the key (and, worse, echoes it)
    fake.script(lambda body: reply_error(401, "authentication_error", f"invalid x-api-key {KEY}"))

    with pytest.raises(ProviderError) as caught:
        claude(fake).step(ask())

    assert caught.value.retryable is False
    assert "API key" in str(caught.value) and "401" in str(caught.value)
    assert KEY not in str(caught.value)
    assert len(fake.requests) == 1


def test_bad_request_echoing_the_key_is_redacted(fake: FakeAnthropic) -> None:
    fake.script(reply_error(400, "invalid_request_error", f"messages: bad input near {KEY}"))

    with pytest.raises(ProviderError) as caught:
        claude(fake).step(ask())

    assert caught.value.retryable is False
    assert "messages: bad input" in str(caught.value) and KEY not in str(caught.value)


def test_unknown_model_is_not_retryable(fake: FakeAnthropic) -> None:
    fake.script(reply_error(404, "not_found_error", "model: claude-test"))

    with pytest.raises(ProviderError, match="claude-test") as caught:
        claude(fake).step(ask())

    assert caught.value.retryable is False


def test_server_errors_until_retries_run_out_are_retryable(fake: FakeAnthropic) -> None:
    fake.script(*[reply_error(500, "api_error", "Internal server error")] * 5)

    with pytest.raises(ProviderError, match="500") as caught:
        claude(fake, max_retries=2).step(ask())

    assert caught.value.retryable is True
    assert len(fake.requests) == 3  # the first try and two SDK retries


def test_rate_limit_after_retries_is_retryable(fake: FakeAnthropic) -> None:
    fake.script(*[reply_error(429, "rate_limit_error", "Slow down")] * 2)

    with pytest.raises(ProviderError, match="rate limit") as caught:
        claude(fake, max_retries=1).step(ask())

    assert caught.value.retryable is True


def test_error_inside_a_stream_is_retryable(fake: FakeAnthropic) -> None:
    # The SDK cannot retry an error event that arrives after HTTP 200
    fake.script(reply_stream_error("overloaded_error", "Overloaded"))

    with pytest.raises(ProviderError, match="Overloaded") as caught:
        claude(fake).step(ask())

    assert caught.value.retryable is True and len(fake.requests) == 1


@pytest.mark.parametrize("where", ["before headers", "mid-stream"])
def test_timeouts_are_retryable(fake: FakeAnthropic, where: str) -> None:
    slow = reply_text("late")
    if where == "before headers":
        slow.delay = 0.6
    else:
        slow.stall = 0.6
    fake.script(slow)

    with pytest.raises(ProviderError) as caught:
        claude(fake, timeout=0.2, max_retries=0).step(ask())

    assert caught.value.retryable is True


def test_unreachable_api_is_retryable(fake: FakeAnthropic) -> None:
    url = fake.url
    fake.stop()

    with pytest.raises(ProviderError, match="could not reach") as caught:
        ClaudeProvider(model=MODEL, api_key=KEY, base_url=url, max_retries=0).step(ask())

    assert caught.value.retryable is True


def test_a_scripted_callable_sees_the_request(fake: FakeAnthropic) -> None:
    def echo(body: dict[str, Any]) -> FakeResponse:
        return reply_text(f"you said: {body['messages'][-1]['content'][0]['text']}")

    fake.script(echo)

    assert claude(fake).step(ask("ping")).text == "you said: ping"
    assert claude(fake).step(ask()).text == "ok"  # the default once the script is used up


def test_base_url_and_key_from_the_environment(fake: FakeAnthropic,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)

    step = ClaudeProvider(model=MODEL, api_key=None).step(ask())

    assert step.text == "ok" and sent_key(fake.requests[0].headers) == KEY


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No key or token in the environment and no SDK profile on disk."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE",
                 "ANTHROPIC_CONFIG_DIR", "ANTHROPIC_FEDERATION_RULE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_missing_key_is_a_clear_error(fake: FakeAnthropic, no_credentials: Path) -> None:
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY") as caught:
        ClaudeProvider(model=MODEL, api_key=None, base_url=fake.url).step(ask())

    assert caught.value.retryable is False and fake.requests == []


def test_missing_sdk_profile_is_a_clear_error(fake: FakeAnthropic, no_credentials: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # An explicit config dir makes the SDK insist on a profile there, failing at request time
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(no_credentials))

    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY") as caught:
        ClaudeProvider(model=MODEL, api_key=None, base_url=fake.url).step(ask())

    assert caught.value.retryable is False and fake.requests == []

"""claw.bench.cache_server: the fake Messages API caches prompt prefixes by the documented rules,
and the real SDK reads its usage fields as the real API's."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from claw.agent.base import ModelRequest, ProviderError
from claw.agent.claude import ClaudeProvider
from claw.bench.cache_server import PromptCache, PromptCacheServer, minimum_cacheable

CACHE = {"type": "ephemeral"}
LONG = "The group's standing instructions. " * 160  # about 1,400 tokens: over Sonnet's minimum


def request(system: str = LONG, messages: list[dict[str, Any]] | None = None, *,
            model: str = "claude-sonnet-4-5", system_mark: bool = True) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": system}
    if system_mark:
        block["cache_control"] = CACHE
    return {"model": model, "system": [block],
            "messages": messages or [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}


def text(role: str, words: str, *, mark: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": words}
    if mark:
        block["cache_control"] = CACHE
    return {"role": role, "content": [block]}


def test_the_same_prefix_is_written_once_then_read() -> None:
    cache = PromptCache()
    # When the same request comes twice
    first, second = cache.process(request()), cache.process(request())
    # Then the first writes the system prompt, the second reads it; the rest is plain input
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 1024
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens == first.input_tokens > 0
    assert first.prompt_tokens == second.prompt_tokens


def test_one_changed_character_before_the_breakpoint_misses() -> None:
    cache = PromptCache()
    cache.process(request())
    changed = cache.process(request(LONG.replace("group's", "group’s", 1)))
    assert changed.cache_read_input_tokens == 0 and changed.cache_creation_input_tokens > 1024


def test_what_follows_the_breakpoint_may_change_and_cache_control_is_no_part_of_the_prompt() -> None:
    cache = PromptCache()
    cache.process(request(messages=[text("user", "first question")]))
    # a different question, and a breakpoint on it: the system prompt is still read
    later = cache.process(request(messages=[text("user", "another question", mark=True)]))
    assert later.cache_read_input_tokens > 1024


@pytest.mark.parametrize(("model", "cached"), [("claude-sonnet-4-5", True), ("claude-opus-4-1", True),
                                               ("claude-haiku-4-5", False)])
def test_a_prefix_under_the_models_minimum_is_not_cached(model: str, cached: bool) -> None:
    # Given a prefix of about 1,400 tokens: over Sonnet's and Opus's 1024, under Haiku's 2048
    cache = PromptCache()
    cache.process(request(model=model))
    again = cache.process(request(model=model))
    assert (again.cache_read_input_tokens > 0) is cached
    assert minimum_cacheable(model) == (2048 if "haiku" in model else 1024)
    if not cached:  # not an error: just nothing written, all plain input
        assert again.cache_creation_input_tokens == 0 and again.input_tokens == again.prompt_tokens


def test_entries_live_five_minutes_from_their_last_use() -> None:
    clock = [0.0]
    cache = PromptCache(clock=lambda: clock[0])
    tool = {"name": "t", "description": LONG, "input_schema": {"type": "object"}, "cache_control": CACHE}

    def ask(words: str) -> int:
        body = {**request("system", messages=[text("user", words, mark=True)], system_mark=False),
                "tools": [tool]}
        return cache.process(body).cache_read_input_tokens

    ask("one")
    clock[0] = 290.0
    longest = ask("one")  # read at 290 s: the whole prefix, and the tools entry inside it
    clock[0] = 580.0
    assert ask("one") == longest  # still there 290 s after its last use
    clock[0] = 860.0
    assert 0 < ask("two") < longest  # the tools entry too: refreshed by the reads of the longer one
    clock[0] = 1161.0
    assert ask("one") == 0  # 301 s after the last use: gone


def test_a_cache_is_per_model() -> None:
    cache = PromptCache()
    cache.process(request(model="claude-sonnet-4-5"))
    assert cache.process(request(model="claude-opus-4-1")).cache_read_input_tokens == 0


def test_a_later_breakpoint_reads_an_earlier_entry_within_twenty_blocks_only() -> None:
    def conversation(turns: int) -> list[dict[str, Any]]:
        return [text("user" if i % 2 == 0 else "assistant", f"line {i}", mark=i == turns - 1)
                for i in range(turns)]

    cache = PromptCache()
    written = cache.process(request(messages=conversation(3), system_mark=False))
    # When the conversation grows by 10 blocks, the breakpoint moving to its end
    near = cache.process(request(messages=conversation(13), system_mark=False))
    # Then the entry written 10 blocks back is found by looking back from the new breakpoint
    assert near.cache_read_input_tokens == written.cache_creation_input_tokens
    # And one exactly 20 blocks back too
    far = cache.process(request(messages=conversation(33), system_mark=False))
    assert far.cache_read_input_tokens == near.cache_creation_input_tokens + near.cache_read_input_tokens
    # But one 21 blocks back is not: the whole prefix is written again
    farther = PromptCache()
    farther.process(request(messages=conversation(3), system_mark=False))
    assert farther.process(request(messages=conversation(24), system_mark=False)).cache_read_input_tokens == 0


def test_the_order_is_tools_then_system_then_messages() -> None:
    # Given a long tool definition with a breakpoint, and a system prompt after it
    tool = {"name": "t", "description": LONG, "input_schema": {"type": "object"}, "cache_control": CACHE}
    cache = PromptCache()
    cache.process({**request("first system prompt", system_mark=False), "tools": [tool]})
    # When only the system prompt changes, Then the tools are still read
    other = cache.process({**request("second system prompt", system_mark=False), "tools": [tool]})
    assert other.cache_read_input_tokens > 1024


def test_through_the_sdk_usage_arrives_as_the_apis_and_five_breakpoints_are_refused() -> None:
    server = PromptCacheServer().start()
    try:
        provider = ClaudeProvider(model="claude-sonnet-4-5", api_key="sk-test-0123456789abcdef",
                                  base_url=server.url, max_retries=0, timeout=10)
        first = provider.step(ModelRequest(LONG, [{"role": "user", "content": "hi"}]))
        second = provider.step(ModelRequest(LONG, [{"role": "user", "content": "hi"}]))
        assert first.usage.cache_write_tokens > 1024 and first.usage.cache_read_tokens == 0
        assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
        assert second.usage.output_tokens > 0
        # five breakpoints: the API answers 400, and claw does not retry it
        five = [text("user", f"m{i}", mark=True) if i % 2 == 0 else text("assistant", f"m{i}", mark=True)
                for i in range(5)]
        with pytest.raises(ProviderError, match="maximum of 4") as failed:
            _raw(provider, five)
        assert failed.value.retryable is False
    finally:
        server.stop()


def _raw(provider: ClaudeProvider, messages: list[dict[str, Any]]) -> None:
    """Send ``messages`` exactly as given (the provider itself never marks more than four)."""
    try:
        provider.client.messages.create(model=provider.model, max_tokens=10, messages=messages)  # type: ignore[arg-type]
    except anthropic.APIError as exc:
        raise provider._error(exc) from exc

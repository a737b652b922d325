"""`claw bench cache` and the prompt layout it measures: a conversation with Claude reads most of
its prompt from the cache, because consecutive turns (and the calls of one tool loop) send the
same bytes up to their breakpoints, and the clock comes after them.

Claude runs through the real ``anthropic`` SDK, the real agent loop and tools, against the fake
Messages API of claw/bench/cache_server.py, which caches by the documented rules.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from claw.agent.base import ChatLine, TurnInput
from claw.agent.claude import ClaudeProvider
from claw.agent.clock import clock_line
from claw.agent.loop import run_agent
from claw.agent.tools import ToolContext, default_registry
from claw.bench.cache import CACHE_SHARE_TARGET, START, answer, run_cache_bench
from claw.bench.cache_server import CacheUsage, PromptCacheServer, block_tokens, prompt_blocks
from claw.cli import cli
from claw.config import Settings
from claw.personality import DEFAULT_PERSONALITY

ZONE = "America/Sao_Paulo"


def test_a_twenty_turn_conversation_reads_over_80_percent_of_follow_up_input_from_the_cache() -> None:
    # When the bench's conversation runs: a group with a full history window, memory tools
    bench = run_cache_bench(turns=20)
    # Then at least 80% of the follow-up turns' input tokens came from the cache
    assert bench.cache_share() >= CACHE_SHARE_TARGET
    # And every follow-up turn read from it, including the turns whose window moved on
    assert all(turn.usage.cache_read_tokens > 0 for turn in bench.follow_ups)
    assert any(turn.window_moved for turn in bench.turns)  # the window does move, in steps
    assert sum(turn.window_moved for turn in bench.turns) <= len(bench.turns) // 2
    assert any(turn.calls > 1 for turn in bench.turns)  # tool loops were part of it
    # And it costs well under half of the same requests without caching
    with_cache, without = bench.costs()
    assert 0 < with_cache < 0.5 * without


def two_turns(tmp_path: Path, *, clock_in_system: bool = False) -> list[tuple[dict[str, Any], CacheUsage]]:
    """Two consecutive turns a day apart, answered by Claude: each turn's first request, and
    what the cache made of it."""
    settings = Settings(workspace=tmp_path / "workspace", home=tmp_path / "home")
    server = PromptCacheServer(answer).start()
    firsts = []
    try:
        provider = ClaudeProvider(model="claude-sonnet-4-5", api_key="sk-test-0123456789abcdef",
                                  base_url=server.url, max_retries=0, timeout=10)
        history = [ChatLine("user" if i % 2 == 0 else "assistant", "Rita" if i % 2 == 0 else "claw",
                            f"message {i} about the weekend plans", START - timedelta(hours=30 - i))
                   for i in range(30)]
        for day, question in enumerate(("what should we cook tonight?", "and tomorrow?")):
            now = START + timedelta(days=day)
            system = DEFAULT_PERSONALITY + ("\n" + clock_line(now, ZONE) if clock_in_system else "")
            line = ChatLine("user", "Rita", question, now - timedelta(seconds=30))
            turn = TurnInput("http:rio", system, history, [line], timezone=ZONE, now=now)
            firsts.append(len(server.requests))
            reply = run_agent(provider, turn, default_registry(), ToolContext("http:rio", settings.workspace, settings),
                              max_iterations=4, history_token_budget=8000)
            history = [*history, line, ChatLine("assistant", "claw", reply.text, now)]
    finally:
        server.stop()
    return [(server.requests[n].body, server.usages[n]) for n in firsts]


def history_prefix(body: dict[str, Any]) -> list[str]:
    """The request's prompt blocks up to its breakpoint at the end of the history."""
    blocks, marks = prompt_blocks(body)
    return blocks[: marks[-2] + 1]


def test_consecutive_turns_share_their_prompt_bytes_up_to_the_history_breakpoint(tmp_path: Path) -> None:
    # Given two consecutive turns, a day apart
    (first, _), (second, usage) = two_turns(tmp_path)
    # Then each had four breakpoints: tools, system, the history's end, the last message
    assert [len(prompt_blocks(body)[1]) for body in (first, second)] == [4, 4]
    # And the second starts with every block the first cached up to its history's end, and
    # reads all of them from the cache
    shared = history_prefix(first)
    assert prompt_blocks(second)[0][: len(shared)] == shared
    assert usage.cache_read_input_tokens == sum(block_tokens(block) for block in shared) > 1024
    # And the clocks differ, each after the history breakpoint of its own turn
    clocks = [body["messages"][-1]["content"][-1]["text"].rsplit("\n", 1)[-1] for body in (first, second)]
    assert clocks[0] != clocks[1] and all(c.startswith("(Now: ") for c in clocks)
    assert not any(clocks[0] in block or clocks[1] in block for block in history_prefix(second))


def test_a_clock_in_the_cached_prefix_would_break_the_sharing_the_test_above_checks(tmp_path: Path) -> None:
    # Given the same two turns with the clock put in the system prompt (what claw must not do)
    (first, _), (second, usage) = two_turns(tmp_path, clock_in_system=True)
    # Then the second no longer starts with the first one's cached prefix, and reads only the tools
    shared = history_prefix(first)
    assert prompt_blocks(second)[0][: len(shared)] != shared
    tools = prompt_blocks(second)[0][: len(second["tools"])]
    assert usage.cache_read_input_tokens == sum(block_tokens(block) for block in tools)


def test_claw_bench_cache_prints_the_share_and_the_cost() -> None:
    result = CliRunner().invoke(cli, ["bench", "cache", "--turns", "3", "--prior-lines", "10"])
    assert result.exit_code == 0, result.output
    assert "follow-up turns (2-3):" in result.output and "read from cache" in result.output
    assert "cost: $" in result.output and "without" in result.output

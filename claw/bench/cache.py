"""`claw bench cache`: how much of a conversation's prompt Claude reads from its prompt cache.

A group that has been chatting for a while (``prior_lines`` stored lines, more than the history
window holds) has a ``turns``-turn conversation with claw, some turns using memory tools. Each
turn is built as the pipeline builds it (claw.pipeline.turns: the stored history cut by
claw.agent.transcript, personality and MEMORY.md as the system prompt, the group's clock) and
answered by the real agent loop, tools and ClaudeProvider, through the real ``anthropic`` SDK,
against a fake Messages API on 127.0.0.1 that caches prefixes by the documented rules
(claw/bench/cache_server.py). Each turn's question and reply are then stored, as the pipeline
does, so the next turn's history moves on.

It prints the share of input tokens read from the cache, for the follow-up turns (the target:
at least 80%) and overall, and the cost against the same requests without caching: cache
writes cost 1.25x the input price, reads 0.1x (claw/agent/pricing.py).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from claw.agent.base import ChatLine, TokenUsage, TurnInput
from claw.agent.claude import ClaudeProvider
from claw.agent.loop import run_agent
from claw.agent.pricing import cost_usd, price_table
from claw.agent.tools import ToolContext, default_registry
from claw.agent.transcript import stored_history_window
from claw.bench.cache_server import TTL_SECONDS, PromptCache, PromptCacheServer, minimum_cacheable
from claw.chaos.fakes.anthropic import FakeResponse, reply_text, reply_tool_use
from claw.config import Settings
from claw.memory import GroupMemory, memory_prompt
from claw.personality import DEFAULT_PERSONALITY

#: what the issue asks: input tokens of follow-up turns read from the cache
CACHE_SHARE_TARGET = 0.80
GROUP = "telegram:-100200300"
TIMEZONE = "Europe/Berlin"
START = datetime(2026, 12, 2, 8, 30, tzinfo=timezone.utc)
#: minutes between turns: the conversation's clock, and the cache's (entries live five minutes)
MINUTES_PER_TURN = 4.0

MEMORY_MD = """\
- Ann and Ben share a flat in Leipzig; the landlord is Mr Weber (rent due on the 1st).
- Ann works as a nurse on early shifts (6:00-14:00) Monday to Thursday.
- Ben is a backend developer; standup at 9:30, deploys on Tuesdays and Thursdays.
- Groceries: oat milk, not cow's milk. Ben is allergic to peanuts.
- The car (a blue Golf) needs its inspection in March; the tyres were changed in October.
- Ann's sister Clara visits on the second weekend of every month.
- Shared budget: 400 EUR a month for food, tracked in budget.csv in the group's files.
- Recurring: bins go out Sunday evening; plants are watered on Wednesdays.
"""

QUESTIONS = [
    ("Ann", "morning! can you plan dinners for this week? something quick on weekdays"),
    ("Ben", "remember that the plumber comes on Friday between 10 and 12"),
    ("Ann", "what should we buy for the curry on Wednesday?"),
    ("Ben", "what do you remember about the plumber"),
    ("Ann", "Clara is coming this weekend, any ideas for Saturday if it rains?"),
    ("Ben", "how much of the food budget is left if we spent 260 so far?"),
    ("Ann", "remember that Clara is vegetarian now"),
    ("Ben", "write a short message to Mr Weber about the dripping kitchen tap"),
    ("Ann", "make it a bit friendlier please"),
    ("Ben", "what do you remember about Clara"),
    ("Ann", "suggest a vegetarian main for Saturday that Ben can also eat"),
    ("Ben", "when is the car inspection again?"),
    ("Ann", "remember that the Golf inspection is booked for 14 March at 8:00"),
    ("Ben", "give me a packing list for a two-day hiking trip in the Harz"),
    ("Ann", "what's a good time to leave on Saturday to avoid traffic?"),
    ("Ben", "what do you remember about the Golf"),
    ("Ann", "summarise what we planned for the weekend"),
    ("Ben", "remember that the bins go out tonight because of the holiday"),
    ("Ann", "thanks! anything else we forgot this week?"),
    ("Ben", "what do you remember about bins"),
]
FILLER = (
    "Here is what I suggest, keeping it simple for your week. ",
    "On weekdays stick to dishes under thirty minutes, and cook a double portion on Monday. ",
    "Oat milk works fine in most sauces, and nothing here has peanuts in it. ",
    "If plans change, tell me and I will adjust the list and the budget. ",
    "I can also put a reminder in the chat the evening before. ",
)


def _reply(question: str, number: int) -> str:
    """A reply of a realistic length (60-100 words), the same for the same question."""
    parts = [f"About \"{question[:60]}\": "] + [FILLER[(number + i) % len(FILLER)] for i in range(3 + number % 3)]
    return "".join(parts).strip()


def _last_question(body: dict[str, Any]) -> str:
    """The newest ``[sender @ time]: text`` line of the last text message (before the clock)."""
    for message in reversed(body.get("messages") or []):
        texts = [b.get("text", "") for b in message["content"] if b.get("type") == "text"]
        lines = [line for text in texts for line in text.split("\n") if line.startswith("[")]
        if message["role"] == "user" and lines:
            return lines[-1].split("]: ", 1)[-1]
    return ""


def answer(body: dict[str, Any]) -> FakeResponse:
    """The bench's model: memory tools for "remember …" and "what do you remember about …",
    a plain reply otherwise, and a reply with the tool's result after a tool ran."""
    last = body["messages"][-1]["content"]
    results = [b for b in last if b.get("type") == "tool_result"]
    question = _last_question(body)
    number = len(question)
    if results:
        return reply_text(f"{results[0]['content']}. " + _reply(question, number))
    if question.startswith("remember that "):
        fact = question.removeprefix("remember that ")
        return reply_tool_use("save_memory", {"category": "topics", "topic": "household", "content": fact},
                              text="I'll note that down.")
    if question.startswith("what do you remember about "):
        return reply_tool_use("search_memory", {"query": question.removeprefix("what do you remember about ")})
    return reply_text(_reply(question, number))


@dataclass
class TurnCost:
    number: int
    calls: int
    usage: TokenUsage
    history_lines: int
    window_moved: bool

    @property
    def prompt_tokens(self) -> int:
        return self.usage.input_tokens + self.usage.cache_read_tokens + self.usage.cache_write_tokens


@dataclass
class CacheBench:
    model: str
    minimum: int
    minutes_per_turn: float
    turns: list[TurnCost] = field(default_factory=list)
    prices: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    def total(self, turns: list[TurnCost]) -> TokenUsage:
        usage = TokenUsage(self.model)
        for turn in turns:
            usage += turn.usage
        return usage

    @property
    def follow_ups(self) -> list[TurnCost]:
        return self.turns[1:]

    def cache_share(self, turns: list[TurnCost] | None = None) -> float:
        usage = self.total(self.follow_ups if turns is None else turns)
        prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        return usage.cache_read_tokens / prompt if prompt else 0.0

    def costs(self) -> tuple[float, float]:
        """USD with caching, and for the same requests without it (output included in both)."""
        usage = self.total(self.turns)
        uncached = TokenUsage(self.model, usage.input_tokens + usage.cache_read_tokens
                              + usage.cache_write_tokens, usage.output_tokens)
        return cost_usd(usage, self.prices), cost_usd(uncached, self.prices)


def _prior_history(lines: int) -> list[ChatLine]:
    """Older chat of the group, one line every ten minutes before the bench starts."""
    history = []
    for i in range(lines):
        when = START - timedelta(minutes=10 * (lines - i))
        if i % 2 == 0:
            sender, text = ("Ann", "Ben")[i // 2 % 2], f"earlier question {i // 2}: " + " ".join(
                ("what", "about", "the", "shopping", "list", "for", "the", "weekend")[: 4 + i % 5])
            history.append(ChatLine("user", sender, text, when))
        else:
            history.append(ChatLine("assistant", "claw", _reply(f"earlier question {i // 2}", i), when))
    return history


def run_cache_bench(*, turns: int = 20, model: str = "claude-sonnet-4-5", prior_lines: int = 60,
                    minutes_per_turn: float = MINUTES_PER_TURN, settings: Settings | None = None) -> CacheBench:
    settings = settings or Settings()
    bench = CacheBench(model, minimum_cacheable(model), minutes_per_turn, prices=price_table(settings.prices))
    with tempfile.TemporaryDirectory(prefix="claw-bench-cache-") as directory:
        root = Path(directory)
        settings = settings.model_copy(update={"home": root / "home", "workspace": root / "workspace"})
        GroupMemory(workspace=settings.workspace, index_dir=settings.memory_index_dir,
                    group_id=GROUP).curate(MEMORY_MD, now=START)
        stored = _prior_history(prior_lines)
        server = PromptCacheServer(answer, keep_requests=False)
        now = START
        server.cache = PromptCache(clock=lambda: now.timestamp())  # the conversation's time, not ours
        server.start()
        try:
            provider = ClaudeProvider(model=model, api_key="bench-key-not-a-real-one", base_url=server.url,
                                      max_retries=0, timeout=30.0)
            ctx = ToolContext(GROUP, settings.workspace, settings, timezone=TIMEZONE)
            registry = default_registry()
            first_line: ChatLine | None = None
            for number in range(1, turns + 1):
                now = START + timedelta(minutes=minutes_per_turn * number)
                sender, text = QUESTIONS[(number - 1) % len(QUESTIONS)]
                question = ChatLine("user", sender, text, now - timedelta(seconds=20))
                history = stored_history_window(stored[-settings.history_messages:], settings.history_messages)
                system = DEFAULT_PERSONALITY + memory_prompt(settings.workspace, GROUP,
                                                             max_chars=settings.memory_prompt_chars)
                turn = TurnInput(GROUP, system, history, [question], timezone=TIMEZONE, now=now)
                calls_before = len(server.usages)
                reply = run_agent(provider, turn, registry, ctx, max_iterations=settings.max_iterations,
                                  history_token_budget=settings.history_token_budget)
                moved = first_line is not None and history[:1] != [first_line]
                first_line = history[0] if history else None
                bench.turns.append(TurnCost(number, len(server.usages) - calls_before, reply.usage[0],
                                            len(history), moved))
                stored += [question, ChatLine("assistant", "claw", reply.text, now)]
        finally:
            server.stop()
    return bench


def render_cache(bench: CacheBench) -> str:
    lines = [f"claw bench cache: {len(bench.turns)} turns {bench.minutes_per_turn:g} min apart, "
             f"{sum(t.calls for t in bench.turns)} model calls, {bench.model} (caches prefixes of "
             f"{bench.minimum}+ tokens for {TTL_SECONDS / 60:g} min)",
             "turn  calls  prompt  read  written  uncached  read%  history",
             ]
    for turn in bench.turns:
        usage = turn.usage
        share = usage.cache_read_tokens / turn.prompt_tokens if turn.prompt_tokens else 0.0
        lines.append(f"{turn.number:>4}  {turn.calls:>5}  {turn.prompt_tokens:>6}  {usage.cache_read_tokens:>4}  "
                     f"{usage.cache_write_tokens:>7}  {usage.input_tokens:>8}  {share:>5.0%}  "
                     f"{turn.history_lines} lines{' (window moved)' if turn.window_moved else ''}")
    total = bench.total(bench.turns)
    prompt = total.input_tokens + total.cache_read_tokens + total.cache_write_tokens
    share = bench.cache_share()
    verdict = "met" if share >= CACHE_SHARE_TARGET else "MISSED"
    with_cache, without = bench.costs()
    ratio = with_cache / without if without else 0.0
    lines += [
        f"input tokens: {prompt} in all; read from cache {total.cache_read_tokens} "
        f"({bench.cache_share(bench.turns):.1%}), written {total.cache_write_tokens}, uncached {total.input_tokens}",
        f"follow-up turns (2-{len(bench.turns)}): {share:.1%} of input tokens read from cache "
        f"(target >= {CACHE_SHARE_TARGET:.0%}: {verdict})",
        f"cost: ${with_cache:.4f} with caching vs ${without:.4f} without ({ratio:.2f}x, "
        f"{1 - ratio:.0%} saved; output tokens included in both)",
    ]
    return "\n".join(lines)

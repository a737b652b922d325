"""The offline model: deterministic, no network, so the whole system runs and is testable.

Plain messages are answered one line each as ``<sender>: <text>``, in order, which lets tests see
loss, duplication, order and coalescing in the replies. A few plain commands become tool calls
(DESIGN.md), so every tool path runs end to end without a network:

    remember <fact>                     -> save_memory
    what do you remember about <x>      -> search_memory
    remind me <when> to <x>             -> schedule_task (reminder); <when> as a schedule spec
                                           starts: "in 5 minutes", "tomorrow at 9", "every morning at 8"
    every <recurring spec> <prompt>     -> schedule_task (agent prompt): "every day at 9:00 ...",
                                           "hourly ...", "every monday at 9 ..." (longest spec that parses)
    run python: <code>                  -> run_code
    be more <trait>                     -> update_personality
    fetch <url>                         -> web_fetch
    search <query>                      -> web_search

and "what day is it", "what time is it", "what's the date" are answered from the clock line the
turn gives every model (ModelRequest.clock), so the clock can be tested end to end offline.

After the tools ran, the reply gives, in message order, each command's tool result (prefixed
"Error: " if it failed; a fetched page summarized as its first lines) and each plain
message's echo line. A line that starts like a command
but is not one ("remind me tomorrow at 9") is answered with the form that command takes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from claw.agent.base import Block, ChatLine, ModelRequest, ModelStep, TokenUsage

ToolUse = tuple[str, dict[str, Any]]

#: how a "remind me ..." time begins (the rest is left to the scheduler's grammar)
SPEC_START = r"(?:in|at|on|tomorrow|tonight|today|this|every|each|daily|hourly|weekly|weekdays|weekends)"
#: most words a recurring spec at the start of a message may have
MAX_SPEC_WORDS = 10


def _recurring_prompt(text: str) -> ToolUse | None:
    """"every morning at 8 summarize the news": the longest start that is a recurring spec is
    the spec (in its normal form), the rest the prompt; None when no start is one."""
    from claw.scheduler import SpecError, parse_spec
    from claw.scheduler.specs import UTC, zone

    words = text.split()
    for end in range(min(len(words) - 1, MAX_SPEC_WORDS), 0, -1):
        try:
            spec = parse_spec(" ".join(words[:end]).rstrip(",:;-"), now=datetime.now(UTC), tz=zone("UTC"))
        except SpecError:
            continue
        if spec.repeats:
            what = " ".join(words[end:]).lstrip(",:- ").strip()
            return ("schedule_task", {"kind": "agent_prompt", "spec": spec.text, "text": what}) if what else None
    return None


COMMANDS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], ToolUse | None]]] = [
    (
        re.compile(r"^what do you remember about\s+(?P<q>.+?)\??$", re.I | re.S),
        lambda m: ("search_memory", {"query": m["q"].strip()}),
    ),
    (
        re.compile(r"^remember(?: that)?\s+(?P<fact>.+)$", re.I | re.S),
        lambda m: ("save_memory", {"category": "topics", "topic": "notes", "content": m["fact"].strip()}),
    ),
    (
        re.compile(rf"^remind (?:me|us) (?P<when>{SPEC_START}\b.*?) to (?P<what>.+)$", re.I | re.S),
        lambda m: (
            "schedule_task",
            {"kind": "reminder", "spec": m["when"].strip(), "text": m["what"].strip()},
        ),
    ),
    (
        re.compile(r"^(?:every|each|daily|hourly|weekly|weekdays|weekends|on weekdays|on weekends)\b.*$", re.I | re.S),
        lambda m: _recurring_prompt(m.group(0)),
    ),
    (
        re.compile(r"^run python:\s*(?P<code>.+)$", re.I | re.S),
        lambda m: ("run_code", {"language": "python", "code": m["code"]}),
    ),
    (
        re.compile(r"^be more (?P<trait>.+?)\.?$", re.I | re.S),
        lambda m: ("update_personality", {"content": f"Be more {m['trait'].strip()}.", "mode": "append"}),
    ),
    (
        re.compile(r"^fetch\s+(?P<url>\S+)\s*$", re.I),
        lambda m: ("web_fetch", {"url": m["url"]}),
    ),
    (
        re.compile(r"^search\s+(?P<q>.+)$", re.I | re.S),
        lambda m: ("web_search", {"query": m["q"].strip()}),
    ),
]

#: longest summary of a fetched page in the offline model's reply
FETCH_SUMMARY_CHARS = 300


def summarized(tool_name: str, content: str) -> str:
    """What the reply says of a tool's result: a fetched page by its first lines, cut."""
    if tool_name != "web_fetch" or len(content) <= FETCH_SUMMARY_CHARS:
        return content
    return content[:FETCH_SUMMARY_CHARS].rstrip() + " …"


#: lines that start like a command but are not one get the forms that command knows, not an echo
NEAR_MISSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^remind me\b", re.I), "remind me in <N> minutes|hours to <something>"),
    (re.compile(r"^every day\b", re.I), "every day at <HH:MM> <what to do>"),
    (re.compile(r"^what do you remember\b", re.I), "what do you remember about <topic>"),
    (re.compile(r"^run python\b", re.I), "run python: <code>"),
    (re.compile(r"^be more\s*$", re.I), "be more <trait>"),
]


def near_miss(text: str) -> str | None:
    """The help for a line that nearly is a command (``remind me tomorrow at 9``), else None."""
    line = text.strip()
    for pattern, form in NEAR_MISSES:
        if pattern.match(line) and parse_command(line) is None:
            return (f"I did not understand {line!r}. The offline model knows this form: {form} "
                    "(set ANTHROPIC_API_KEY for a model that understands more).")
    return None


#: questions answered with the turn's clock line instead of an echo (also after "@claw ")
ASKS_THE_TIME = re.compile(
    r"(?:^|\s)(?:what(?:'s| is) (?:the )?(?:date|time|day)(?: today| now)?|what day is (?:it|today)"
    r"|what time is it|what(?:'s| is) today(?:'s date)?)\s*\??$",
    re.I,
)


def parse_command(text: str) -> ToolUse | None:
    for pattern, build in COMMANDS:
        match = pattern.match(text.strip())
        command = build(match) if match else None
        if command:
            return command
    return None


def _plain_answer(message: ChatLine, clock: str) -> str:
    """The echo line, the clock line when the message asks what day or time it is, or the
    forms of the command the line nearly is."""
    if clock and ASKS_THE_TIME.search(message.text.strip()):
        return f"{message.sender}: {clock}"
    return near_miss(message.text) or f"{message.sender}: {message.text}"


def _tool_id(index: int) -> str:
    return f"toolu_offline_{index}"


class OfflineProvider:
    name = "offline"
    model = "offline"

    def __init__(self, *, latency_ms: int = 0) -> None:
        self.latency_ms = latency_ms

    def step(self, request: ModelRequest) -> ModelStep:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        results = self._tool_results(request)
        if results is None:
            calls = self._tool_calls(request.new_messages)
            if calls:
                return self._finish(calls, "tool_use", request)
            text = "\n".join(_plain_answer(m, request.clock) for m in request.new_messages)
        else:
            text = "\n".join(self._answer_lines(request.new_messages, results, request.clock))
        if request.on_text:
            request.on_text(text)
        return self._finish([{"type": "text", "text": text}], "end_turn", request)

    @staticmethod
    def _tool_calls(new_messages: list[ChatLine]) -> list[Block]:
        calls = []
        for index, message in enumerate(new_messages):
            command = parse_command(message.text)
            if command:
                name, arguments = command
                calls.append({"type": "tool_use", "id": _tool_id(index), "name": name, "input": arguments})
        return calls

    @staticmethod
    def _tool_results(request: ModelRequest) -> dict[str, Block] | None:
        last = request.messages[-1] if request.messages else None
        if not last or last["role"] != "user" or isinstance(last["content"], str):
            return None
        return {b["tool_use_id"]: b for b in last["content"] if b.get("type") == "tool_result"}

    @staticmethod
    def _answer_lines(new_messages: list[ChatLine], results: dict[str, Block], clock: str) -> list[str]:
        lines = []
        for index, message in enumerate(new_messages):
            result = results.get(_tool_id(index))
            if result is None:
                lines.append(_plain_answer(message, clock))
            else:
                content = str(result.get("content", ""))
                command = parse_command(message.text)
                content = summarized(command[0], content) if command else content
                lines.append(f"Error: {content}" if result.get("is_error") else content)
        return lines

    def _finish(self, content: list[Block], stop_reason: str, request: ModelRequest) -> ModelStep:
        words_in = sum(len(m.text.split()) for m in request.new_messages)
        words_out = sum(len(str(b.get("text", b.get("input", ""))).split()) for b in content)
        return ModelStep(content, TokenUsage(self.model, words_in, words_out), stop_reason)

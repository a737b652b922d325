"""The offline model: deterministic, no network, so the whole system runs and is testable.

Plain messages are answered one line each as ``<sender>: <text>``, in order, which lets tests see
loss, duplication, order and coalescing in the replies. A few plain commands become tool calls
(DESIGN.md), so every tool path runs end to end without a network:

    remember <fact>                     -> save_memory
    what do you remember about <x>      -> search_memory
    remind me in <N> minutes|hours to <x> -> schedule_task (reminder)
    every day at <HH:MM> <prompt>       -> schedule_task (agent prompt)
    run python: <code>                  -> run_code
    be more <trait>                     -> update_personality
    fetch <url>                         -> web_fetch
    search <query>                      -> web_search

After the tools ran, the reply gives, in message order, each command's tool result (prefixed
"Error: " if it failed; a fetched page summarized as its first lines) and each plain
message's echo line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from claw.agent.base import Block, ChatLine, ModelRequest, ModelStep, TokenUsage

ToolUse = tuple[str, dict[str, Any]]

COMMANDS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], ToolUse]]] = [
    (
        re.compile(r"^what do you remember about\s+(?P<q>.+?)\??$", re.I | re.S),
        lambda m: ("search_memory", {"query": m["q"].strip()}),
    ),
    (
        re.compile(r"^remember(?: that)?\s+(?P<fact>.+)$", re.I | re.S),
        lambda m: ("save_memory", {"category": "topics", "topic": "notes", "content": m["fact"].strip()}),
    ),
    (
        re.compile(r"^remind me in (?P<n>\d+) (?P<unit>minutes?|hours?) to (?P<what>.+)$", re.I | re.S),
        lambda m: (
            "schedule_task",
            {"kind": "reminder", "spec": f"in {m['n']} {m['unit']}", "text": m["what"].strip()},
        ),
    ),
    (
        re.compile(r"^every day at (?P<hh>\d{1,2}):(?P<mm>\d{2})\s*,?\s*(?P<what>.+)$", re.I | re.S),
        lambda m: (
            "schedule_task",
            {"kind": "agent_prompt", "spec": f"daily {int(m['hh']):02d}:{m['mm']}", "text": m["what"].strip()},
        ),
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


def parse_command(text: str) -> ToolUse | None:
    for pattern, build in COMMANDS:
        match = pattern.match(text.strip())
        if match:
            return build(match)
    return None


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
            text = "\n".join(f"{m.sender}: {m.text}" for m in request.new_messages)
        else:
            text = "\n".join(self._answer_lines(request.new_messages, results))
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
    def _answer_lines(new_messages: list[ChatLine], results: dict[str, Block]) -> list[str]:
        lines = []
        for index, message in enumerate(new_messages):
            result = results.get(_tool_id(index))
            if result is None:
                lines.append(f"{message.sender}: {message.text}")
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

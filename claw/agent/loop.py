"""The agent loop: call the model, run the tools it asks for, feed the results back, stop.

It stops when the model answers without asking for a tool, or after ``max_iterations`` model
calls, in which case the user is told plainly instead of getting silence.

With a journal (claw.pipeline.journal) every model response that asks for tools, and every
tool's result, is journaled before the loop moves on; a redone turn replays what is journaled
instead of asking the model or running the tool again, and continues from the first step that
is not. The final answer is not journaled: asking for it again repeats no effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Protocol

from claw.agent.base import AgentReply, ModelRequest, ModelStep, Provider, TokenUsage, ToolCall, TurnInput
from claw.agent.tools import ToolContext, ToolRegistry, ToolResult
from claw.agent.transcript import build_conversation
from claw.faults import fault_point
from claw.pipeline.journal import JournalSlot

log = logging.getLogger(__name__)

MAX_ITERATIONS_NOTE = (
    "I stopped after {n} steps without finishing. Tell me to continue, or ask for something smaller."
)
EMPTY_REPLY = "(no answer)"


class StepJournal(Protocol):
    """Where the loop journals a turn's steps (claw.pipeline.journal.TurnJournal)."""

    def recorded(self, step: int, call: int) -> dict[str, Any] | None: ...

    def record(self, step: int, call: int, data: dict[str, Any]) -> dict[str, Any]: ...

    def slot(self, step: int, call: int) -> JournalSlot: ...


def run_agent(
    provider: Provider,
    turn: TurnInput,
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    max_iterations: int,
    history_token_budget: int,
    on_text: Callable[[str], None] | None = None,
    journal: StepJournal | None = None,
) -> AgentReply:
    # One clock for the whole turn: every model call of the tool loop then sends the same
    # bytes up to its last message, and reads the previous call's prefix from the cache.
    conversation = build_conversation(turn, token_budget=history_token_budget,
                                      now=turn.now or datetime.now(timezone.utc))
    messages = conversation.messages
    usage = TokenUsage(provider.model)
    tools = registry.specs()
    texts: list[str] = []
    tools_used: list[str] = []
    for iteration in range(1, max_iterations + 1):
        journaled = journal.recorded(iteration, 0) if journal is not None else None
        if journaled is not None:
            step = ModelStep.from_data(journaled, provider.model)
        else:
            step = provider.step(
                ModelRequest(turn.system_prompt, messages, tools, on_text, new_messages=turn.new_messages,
                             history_end=conversation.history_end, clock=conversation.clock)
            )
            if journal is not None and step.tool_calls:
                journal.record(iteration, 0, step.to_data())
        usage += step.usage
        messages.append({"role": "assistant", "content": step.content})
        calls = step.tool_calls
        if step.text.strip():
            texts.append(step.text.strip())
        if not calls:
            return AgentReply(step.text.strip() or EMPTY_REPLY, [usage], iteration, tools_used)
        results = []
        for number, call in enumerate(calls, start=1):
            tools_used.append(call.name)
            result = _tool_result(registry, call, ctx, journal, iteration, number)
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": result.content,
                    "is_error": result.is_error,
                }
            )
        messages.append({"role": "user", "content": results})
    log.warning("agent_max_iterations group=%s n=%d", turn.group_id, max_iterations)
    note = MAX_ITERATIONS_NOTE.format(n=max_iterations)
    return AgentReply("\n".join([*texts[-1:], note]), [usage], max_iterations, tools_used)


def _tool_result(registry: ToolRegistry, call: ToolCall, ctx: ToolContext, journal: StepJournal | None,
                 step: int, number: int) -> ToolResult:
    """The journaled result of this call, else the tool's, journaled before the loop goes on."""
    if journal is None:
        return registry.call(call, ctx)
    journaled = journal.recorded(step, number)
    if journaled is not None:
        log.info("tool_replayed tool=%s group=%s step=%d call=%d", call.name, ctx.group_id, step, number)
        return ToolResult.from_data(journaled)
    result = registry.call(call, replace(ctx, journal=journal.slot(step, number)))
    fault_point("turn.after_tool")
    return ToolResult.from_data(journal.record(step, number, result.to_data()))

"""The agent loop: call the model, run the tools it asks for, feed the results back, stop.

It stops when the model answers without asking for a tool, or after ``max_iterations`` model
calls, in which case the user is told plainly instead of getting silence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from claw.agent.base import AgentReply, ModelRequest, Provider, TokenUsage, TurnInput
from claw.agent.tools import ToolContext, ToolRegistry
from claw.agent.transcript import to_chat_turns

log = logging.getLogger(__name__)

MAX_ITERATIONS_NOTE = (
    "I stopped after {n} steps without finishing. Tell me to continue, or ask for something smaller."
)
EMPTY_REPLY = "(no answer)"


def run_agent(
    provider: Provider,
    turn: TurnInput,
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    max_iterations: int,
    history_token_budget: int,
    on_text: Callable[[str], None] | None = None,
) -> AgentReply:
    messages = to_chat_turns(turn, token_budget=history_token_budget)
    usage = TokenUsage(provider.model)
    tools = registry.specs()
    texts: list[str] = []
    tools_used: list[str] = []
    for iteration in range(1, max_iterations + 1):
        step = provider.step(
            ModelRequest(turn.system_prompt, messages, tools, on_text, new_messages=turn.new_messages)
        )
        usage += step.usage
        messages.append({"role": "assistant", "content": step.content})
        calls = step.tool_calls
        if step.text.strip():
            texts.append(step.text.strip())
        if not calls:
            return AgentReply(step.text.strip() or EMPTY_REPLY, [usage], iteration, tools_used)
        results = []
        for call in calls:
            tools_used.append(call.name)
            result = registry.call(call, ctx)
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

"""The offline model: deterministic, no network, so the whole pipeline runs and is testable.

It answers every new user message of the turn, in order, one line each as ``<sender>: <text>``,
which lets tests see loss, duplication, order and coalescing directly in the replies.
"""

from __future__ import annotations

import time

from claw.agent.base import AgentReply, TokenUsage, TurnInput


class OfflineProvider:
    name = "offline"

    def __init__(self, *, latency_ms: int = 0) -> None:
        self.latency_ms = latency_ms

    def reply(self, turn: TurnInput) -> AgentReply:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        text = "\n".join(f"{m.sender}: {m.text}" for m in turn.new_messages)
        words_in = sum(len(m.text.split()) for m in turn.new_messages)
        return AgentReply(text, [TokenUsage("offline", words_in, len(text.split()))])

"""The agent: LLM providers behind one interface, chosen by CLAW_LLM."""

from __future__ import annotations

from claw.agent.base import AgentReply, ChatLine, Provider, ProviderError, TokenUsage, TurnInput
from claw.config import Settings

__all__ = [
    "AgentReply",
    "ChatLine",
    "Provider",
    "ProviderError",
    "TokenUsage",
    "TurnInput",
    "make_provider",
]


def make_provider(settings: Settings) -> Provider:
    llm = settings.resolved_llm
    if llm == "offline":
        from claw.agent.offline import OfflineProvider

        return OfflineProvider(latency_ms=settings.offline_latency_ms)
    if llm == "anthropic":
        from claw.agent.claude import ClaudeProvider

        key = settings.anthropic_api_key
        return ClaudeProvider(model=settings.model, api_key=key.get_secret_value() if key else None)
    raise ProviderError(f"CLAW_LLM={llm} is not available yet; use 'anthropic' or 'offline'")

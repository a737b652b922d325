"""The agent: LLM providers behind one interface (chosen by CLAW_LLM), the tool loop, tools."""

from __future__ import annotations

from claw.agent.base import (
    AgentReply,
    ChatLine,
    ModelRequest,
    ModelStep,
    Provider,
    ProviderError,
    TokenUsage,
    ToolCall,
    ToolSpec,
    TurnInput,
)
from claw.config import Settings

__all__ = [
    "AgentReply",
    "ChatLine",
    "ModelRequest",
    "ModelStep",
    "Provider",
    "ProviderError",
    "TokenUsage",
    "ToolCall",
    "ToolSpec",
    "TurnInput",
    "make_provider",
]


def make_provider(settings: Settings) -> Provider:
    llm = settings.resolved_llm
    if llm == "anthropic":
        from claw.agent.claude import ClaudeProvider

        key = settings.anthropic_api_key
        return ClaudeProvider(
            model=settings.model,
            api_key=key.get_secret_value() if key else None,
            max_retries=settings.llm_max_retries,
            timeout=settings.llm_timeout,
        )
    if llm == "openai":
        from claw.agent.openai_compat import OpenAIProvider

        key = settings.openai_api_key
        return OpenAIProvider(
            model=settings.model,
            base_url=settings.openai_base_url,
            api_key=key.get_secret_value() if key else None,
            max_retries=settings.llm_max_retries,
            timeout=settings.llm_timeout,
        )
    from claw.agent.offline import OfflineProvider

    return OfflineProvider(latency_ms=settings.offline_latency_ms)

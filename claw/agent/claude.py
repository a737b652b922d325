"""Claude through the official ``anthropic`` SDK (honours ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL)."""

from __future__ import annotations

import anthropic

from claw.agent.base import AgentReply, ProviderError, TokenUsage, TurnInput
from claw.agent.transcript import to_chat_turns

MAX_TOKENS = 4096


class ClaudeProvider:
    name = "anthropic"

    def __init__(self, *, model: str, api_key: str | None, max_retries: int = 3) -> None:
        self.model = model
        self.client = anthropic.Anthropic(api_key=api_key, max_retries=max_retries)

    def reply(self, turn: TurnInput) -> AgentReply:
        try:
            response = self.client.messages.create(
                model=self.model,
                max_tokens=MAX_TOKENS,
                system=turn.system_prompt,
                messages=to_chat_turns(turn),
            )
        except anthropic.APIError as exc:
            raise ProviderError(f"Claude API error: {type(exc).__name__}") from exc
        text = "".join(block.text for block in response.content if block.type == "text")
        usage = response.usage
        return AgentReply(
            text,
            [
                TokenUsage(
                    self.model,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_read_input_tokens or 0,
                    usage.cache_creation_input_tokens or 0,
                )
            ],
        )

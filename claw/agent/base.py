"""What every LLM provider gets and gives back, so the turn does not care which model runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One message of the conversation as the agent sees it."""

    role: str  # "user" | "assistant"
    sender: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TurnInput:
    group_id: str
    system_prompt: str
    history: list[ChatLine]  #: earlier messages, oldest first
    new_messages: list[ChatLine]  #: the pending user messages this turn answers, oldest first


@dataclass(slots=True)
class TokenUsage:
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(slots=True)
class AgentReply:
    text: str
    usage: list[TokenUsage] = field(default_factory=list)


class ProviderError(Exception):
    """The model could not answer; the turn tells the user and keeps the messages pending."""


class Provider(Protocol):
    name: str

    def reply(self, turn: TurnInput) -> AgentReply: ...

"""What every LLM provider gets and gives back, so the agent loop does not care which model runs.

The conversation is kept in Anthropic's content-block shape (it is the richest: text, tool_use
and tool_result blocks with ids) and every provider translates it to its own wire format:

    {"role": "user", "content": "text"}
    {"role": "assistant", "content": [{"type": "text", "text": ...},
                                       {"type": "tool_use", "id": ..., "name": ..., "input": {...}}]}
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": ..., "content": "...",
                                  "is_error": bool}]}

Errors:

    ProviderError            the model could not answer (after the SDK's own retries)
    └── (retryable flag)     True for overload/5xx/timeouts, False for bad credentials etc.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

Block = dict[str, Any]
ChatMessage = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One stored message of the conversation as the agent sees it."""

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
    timezone: str = "UTC"  #: the group's timezone, for `[Alice @ 2:34 PM]` stamps and the clock
    #: the moment the turn is answered, told to the model (None: when the loop starts)
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it; the schema is generated from the tool's signature."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(slots=True)
class TokenUsage:
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def counts(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cache_read_tokens": self.cache_read_tokens, "cache_write_tokens": self.cache_write_tokens}

    def __iadd__(self, other: TokenUsage) -> TokenUsage:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        return self


@dataclass(slots=True)
class ModelRequest:
    system: str
    messages: list[ChatMessage]
    tools: list[ToolSpec] = field(default_factory=list)
    #: called with each piece of text as it streams in (progress for channels that can show it)
    on_text: Callable[[str], None] | None = None
    #: the messages this turn answers. Real models read them in ``messages``; the offline
    #: model uses them directly, so it never has to parse its own transcript format.
    new_messages: list[ChatLine] = field(default_factory=list)
    #: how many leading ``messages`` are the turn's history: the same bytes next turn, so the
    #: Claude provider ends a cache breakpoint there (0: none)
    history_end: int = 0
    #: the clock line the model reads at the end of the last user message (claw.agent.clock);
    #: the offline model answers "what day is it" from it
    clock: str = ""


@dataclass(slots=True)
class ModelStep:
    """One model response."""

    #: the assistant content blocks exactly as returned, to be sent back unchanged next step
    content: list[Block]
    usage: TokenUsage
    stop_reason: str = "end_turn"

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    def to_data(self) -> dict[str, Any]:
        """As the turn journal keeps it (JSON)."""
        return {"content": self.content, "usage": self.usage.counts(), "stop_reason": self.stop_reason}

    @classmethod
    def from_data(cls, data: dict[str, Any], model: str) -> ModelStep:
        return cls(list(data["content"]), TokenUsage(model, **data.get("usage", {})),
                   data.get("stop_reason", "tool_use"))

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [
            ToolCall(b["id"], b["name"], dict(b.get("input") or {}))
            for b in self.content
            if b.get("type") == "tool_use"
        ]


@dataclass(slots=True)
class AgentReply:
    text: str
    usage: list[TokenUsage] = field(default_factory=list)
    iterations: int = 0
    tools_used: list[str] = field(default_factory=list)  #: names, in call order


class ProviderError(Exception):
    """The model could not answer; the turn tells the user and keeps the messages pending."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Provider(Protocol):
    name: str
    model: str

    def step(self, request: ModelRequest) -> ModelStep: ...

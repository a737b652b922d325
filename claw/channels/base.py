"""What a channel adapter does: deliver a reply, and (for polled channels) fetch new messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from claw.inbox import IncomingMessage


class DeliveryError(Exception):
    """The channel did not take the reply; the send task retries it later."""


class PollError(Exception):
    """The channel could not be polled or answered garbage; nothing is skipped, retry later."""


@dataclass(slots=True)
class PollBatch:
    messages: list[IncomingMessage] = field(default_factory=list)
    cursor: str = ""


class Channel(Protocol):
    name: str

    def deliver(self, chat_id: str, text: str) -> None: ...


class PolledChannel(Channel, Protocol):
    def fetch(self, cursor: str) -> PollBatch: ...

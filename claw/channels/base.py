"""What a channel adapter does: deliver a reply, and (for polled channels) fetch new messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from claw.pipeline.inbox import IncomingMessage


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


def show_typing(channel: Channel, chat_id: str) -> None:
    """Show "typing…" in the chat where the channel can (Telegram); a no-op elsewhere. Pull
    channels get their typing indicator from the group's event stream instead."""
    show = getattr(channel, "show_typing", None)
    if show is not None:
        show(chat_id)


class PolledChannel(Channel, Protocol):
    def fetch(self, cursor: str) -> PollBatch: ...

"""What a channel adapter does: deliver a reply, and (for polled channels) fetch new messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from claw.pipeline.inbox import IncomingMessage

if TYPE_CHECKING:
    import requests

    from claw.channels.items import ItemNote

#: the longest wait a channel may ask for that claw takes at its word (a day)
MAX_RETRY_AFTER = 86_400.0


class DeliveryError(Exception):
    """The channel did not take the reply.

    ``retry_after``: the channel said when to try again (Telegram's 429, a Retry-After header);
    claw waits that long rather than its own backoff. ``permanent``: the channel refused this
    reply for good (a bad request), so retrying it would only hold back the chat's next ones.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class PollError(Exception):
    """The channel could not be polled or answered garbage; nothing is skipped, retry later."""


@dataclass(slots=True)
class PollBatch:
    messages: list[IncomingMessage] = field(default_factory=list)
    cursor: str = ""
    #: items of the page that were skipped or repaired (placeholders, cleaned text), for the log
    notes: list[ItemNote] = field(default_factory=list)


class Channel(Protocol):
    name: str

    def deliver(self, chat_id: str, text: str) -> None: ...


def show_typing(channel: Channel, chat_id: str) -> None:
    """Show "typing…" in the chat where the channel can (Telegram); a no-op elsewhere. Pull
    channels get their typing indicator from the group's event stream instead."""
    show = getattr(channel, "show_typing", None)
    if show is not None:
        show(chat_id)


def parts_of(channel: Channel, text: str) -> list[str]:
    """The messages a reply goes out as: several where the channel limits a message's length
    (Telegram), else one. Delivery records how many went out, so a retry resumes after them."""
    split = getattr(channel, "split", None)
    return list(split(text)) if split is not None else [text]


def retry_after_header(response: requests.Response) -> float | None:
    """The Retry-After header in seconds, when the server sent one as a number."""
    return seconds_or_none(response.headers.get("Retry-After"))


def seconds_or_none(value: object) -> float | None:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return min(seconds, MAX_RETRY_AFTER) if seconds >= 0 else None


class PolledChannel(Channel, Protocol):
    def fetch(self, cursor: str) -> PollBatch: ...

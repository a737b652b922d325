"""One item of a polled page at a time: a storable message, or a note of why it is not one.

A page from a channel is judged item by item, so one item claw cannot store never holds back
the good items beside it nor the cursor behind it:

- media with no text (a photo, a voice note) becomes a placeholder such as ``[photo]``;
- an item with no id or no chat id, or a chat id claw could not answer, is skipped;
- text loses NUL characters and lone surrogates (neither SQLite's UTF-8 nor PostgreSQL's text
  can hold them), and over-long fields are cut (text, sender) or hashed (the external id).

Every placeholder, repair and skip is recorded as an :class:`ItemNote` (never with the item's
words: they are people's messages), which claw/pipeline/polling.py logs and counts.

The API's own input cleaning lives in claw/pipeline/inbox.py; this module only does what a
channel item needs before it can be handed to it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from claw.pipeline.inbox import IncomingMessage

MAX_TEXT = 32_000  #: characters of a message's text kept; the rest is cut with a marker
MAX_SENDER = 255  #: the sender column's width
MAX_EXTERNAL_ID = 255  #: longer ids are replaced by their hash (dedup still works)
MAX_CHAT_ID = 200  #: room for "<channel>:" in the 255-character group id
CUT_MARKER = " …[cut]"

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: a chat id is an address claw replies to: no control characters, no spaces around it
_CHAT_ID = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]+")


@dataclass(frozen=True, slots=True)
class ItemNote:
    """What happened to one item that could not be stored as it came."""

    channel: str
    action: str  #: "skipped" | "ignored" (the bot's own message) | "placeholder" | "cleaned" | "cut"
    reason: str  #: e.g. "no_chat_id", "malformed", "from_me", "media:photo", "nul", "text_too_long"
    ref: str  #: where it was (an id or a position), never its content


def clean(value: str) -> tuple[str, bool]:
    """``value`` without NUL and with lone surrogates replaced; and whether it changed."""
    cleaned = _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    return cleaned, cleaned != value


def item_ref(item_id: Any, position: int) -> str:
    """How a log line names an item: its position in the page and its id, safely escaped."""
    return f"#{position}" + (f" id={ascii(item_id)[:60]}" if item_id is not None else "")


def as_id(value: Any) -> str | None:
    """An id as the channel gave it (a string or an integer), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def build_message(
    channel: str,
    *,
    ref: str,
    external_id: Any,
    chat_id: Any,
    sender: Any,
    text: Any,
    media: str | None,
    notes: list[ItemNote],
) -> IncomingMessage | None:
    """The message to store for one item, or None (with a note) when it has to be skipped.

    ``media`` names the item's media ("photo", "voice message") when it has any: an item
    without text then becomes ``[photo]``; with neither, it is skipped.
    """

    def note(action: str, reason: str) -> None:
        notes.append(ItemNote(channel, action, reason, ref))

    item_id, chat = as_id(external_id), as_id(chat_id)
    if item_id is None:
        note("skipped", "no_id")
        return None
    if chat is None:
        note("skipped", "no_chat_id")
        return None
    if len(chat) > MAX_CHAT_ID or not _CHAT_ID.fullmatch(chat):
        note("skipped", "bad_chat_id")
        return None
    item_id, changed = clean(item_id)
    if changed or len(item_id) > MAX_EXTERNAL_ID:
        item_id = "sha256:" + hashlib.sha256(item_id.encode("utf-8", "surrogatepass")).hexdigest()
        note("cleaned", "external_id")
    body = text if isinstance(text, str) else ""
    if not body.strip():
        if media is None:
            note("skipped", "no_text")
            return None
        body = f"[{media}]"
        note("placeholder", f"media:{media}")
    body, changed = clean(body)
    if changed:
        note("cleaned", "text")
    if len(body) > MAX_TEXT:
        body = body[: MAX_TEXT - len(CUT_MARKER)] + CUT_MARKER
        note("cut", "text_too_long")
    who, changed = clean(sender if isinstance(sender, str) and sender.strip() else "unknown")
    if changed:
        note("cleaned", "sender")
    if len(who) > MAX_SENDER:
        who = who[:MAX_SENDER]
        note("cut", "sender_too_long")
    return IncomingMessage(
        channel=channel,
        chat_id=chat,
        sender=who,
        text=body,
        external_id=item_id,
        created_at=None,  # arrival time drives cooldown and staleness, not the sender's clock
    )

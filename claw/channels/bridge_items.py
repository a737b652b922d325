"""One item of a WhatsApp bridge's page, in either of the two shapes bridges speak.

claw's own bridge protocol gives every item an id (and the page a cursor):

    {"id": "wamid.1", "chat_id": "123@g.us", "sender": "Ann", "text": "hi", "type": "image", ...}

The tutorial's bridge (the one people build from the setup document) gives no ids and no cursor,
only what is new since the last poll:

    {"chat_jid": "123@g.us", "sender": "Ann", "content": "hi", "timestamp": 1700000000}

An item without an id gets one derived from what identifies it: a hash of chat, sender,
timestamp and text. So a bridge that hands out the same item again (after a restart, or when
its answer was lost on the way) has it stored once, while the same words sent again later are
a new message (another timestamp). Two identical items in one page, at the same second, are
two messages: the second gets the occurrence number in its id. Without an id or a timestamp
nothing tells a repeat from a new message, so such an item is skipped (``no_id``).

Items the bot sent itself (``from_me`` / ``is_from_me`` / ``fromMe``) come back through the
bridge when it shares the bot's WhatsApp account; they are ignored, never stored nor answered.
So are items of what is not a chat: contacts' status updates (``status@broadcast``), broadcast
lists and channels (``@newsletter``), where any reply, a pairing code included, would be
posted for everyone to see.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from claw.channels.items import ItemNote, as_id, build_message, item_ref
from claw.pipeline.inbox import IncomingMessage

#: the bridge's media types, as a person would name them in a placeholder
MEDIA_NAMES = {
    "image": "photo", "photo": "photo", "video": "video", "gif": "GIF", "audio": "audio",
    "ptt": "voice message", "voice": "voice message", "document": "document",
    "sticker": "sticker", "location": "location", "vcard": "contact", "contact": "contact",
}
#: the fields bridges use to mark a message the bot's own account sent
OWN_FLAGS = ("from_me", "is_from_me", "fromMe")
#: WhatsApp ids that are not a chat anyone talks to claw in: contacts' status updates
#: (``status@broadcast``), broadcast lists and channels (newsletters). A reply there would
#: post a status to every contact or write to a channel, so their items are ignored.
NOT_A_CHAT_SUFFIXES = ("@broadcast", "@newsletter")
#: prefix of a derived external id (a bridge's own ids never look like this)
DERIVED_PREFIX = "bridge-sha256:"


def first_present(item: dict[str, Any], *names: str) -> Any:
    """The value of the first of ``names`` that the item has and is not null."""
    for name in names:
        if item.get(name) is not None:
            return item[name]
    return None


def is_own(item: dict[str, Any]) -> bool:
    """Whether the bridge marks the item as sent by the bot's own account."""
    for name in OWN_FLAGS:
        flag = item.get(name)
        if flag is True or (isinstance(flag, int) and not isinstance(flag, bool) and flag == 1):
            return True
        if isinstance(flag, str) and flag.strip().lower() in ("true", "1", "yes"):
            return True
    return False


def timestamp_key(value: Any) -> str | None:
    """The timestamp as a stable string for the derived id: the same item gives the same key."""
    if isinstance(value, float) and value == value:  # not NaN
        return repr(value)
    return as_id(value)


def derived_id(chat_id: Any, sender: Any, stamp: str, text: Any) -> str:
    """An id for an item that has none: the same item always gets the same one."""
    # JSON keeps the fields apart ("a|b" + "c" and "a" + "b|c" never collide) and encodes any
    # value the bridge may send; surrogatepass keeps a lone surrogate from raising.
    fields = json.dumps([chat_id, sender, stamp, text], ensure_ascii=True, default=str)
    return DERIVED_PREFIX + hashlib.sha256(fields.encode("utf-8", "surrogatepass")).hexdigest()


class PageReader:
    """Reads the items of one page; remembers derived ids seen so far to number repeats."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.notes: list[ItemNote] = []
        self._derived_seen: dict[str, int] = {}

    def read(self, item: Any, position: int) -> IncomingMessage | None:
        """The message for one item, or None with a note saying why there is none."""
        if not isinstance(item, dict):
            self.notes.append(ItemNote(self.channel, "skipped", "malformed", item_ref(None, position)))
            return None
        chat_id = first_present(item, "chat_id", "chat_jid")
        sender = first_present(item, "sender", "sender_jid")
        text = first_present(item, "text", "content")
        external_id = as_id(item.get("id"))
        if external_id is None:
            external_id = self._derive(item, chat_id, sender, text)
        ref = item_ref(item.get("id") if external_id is None else external_id, position)
        if is_own(item):
            self.notes.append(ItemNote(self.channel, "ignored", "from_me", ref))
            return None
        if isinstance(chat_id, str) and chat_id.strip().lower().endswith(NOT_A_CHAT_SUFFIXES):
            self.notes.append(ItemNote(self.channel, "ignored", "not_a_chat", ref))
            return None
        kind = first_present(item, "type", "media_type")
        media = None
        if text is None or isinstance(kind, str) and kind.lower() in MEDIA_NAMES:
            media = MEDIA_NAMES.get(str(kind).lower(), "media")
            text = text if isinstance(text, str) and text.strip() else item.get("caption")
        return build_message(self.channel, ref=ref, external_id=external_id, chat_id=chat_id,
                             sender=sender, text=text, media=media, notes=self.notes)

    def _derive(self, item: dict[str, Any], chat_id: Any, sender: Any, text: Any) -> str | None:
        stamp = timestamp_key(item.get("timestamp"))
        if stamp is None:
            return None  # build_message skips it as "no_id"
        derived = derived_id(chat_id, sender, stamp, text)
        seen = self._derived_seen.get(derived, 0) + 1
        self._derived_seen[derived] = seen
        return derived if seen == 1 else f"{derived}#{seen}"

"""WhatsApp through a bridge: GET {bridge}/messages?since=<cursor>, POST {bridge}/send.

A page is ``{"messages": [...], "cursor": "..."}``; a page of another shape is refused whole
(PollError: the cursor stays), but inside a good page each item is judged on its own
(claw/channels/items.py): a media item or a broken item never holds back the others or the
cursor.
"""

from __future__ import annotations

from typing import Any

import requests

from claw.channels.base import DeliveryError, PollBatch, PollError, retry_after_header
from claw.channels.items import ItemNote, as_id, build_message, item_ref
from claw.pipeline.inbox import IncomingMessage

TIMEOUT = (3, 10)  #: (connect, read) seconds
#: the bridge's media types, as a person would name them in a placeholder
MEDIA_NAMES = {
    "image": "photo", "photo": "photo", "video": "video", "gif": "GIF", "audio": "audio",
    "ptt": "voice message", "voice": "voice message", "document": "document",
    "sticker": "sticker", "location": "location", "vcard": "contact", "contact": "contact",
}
#: answers that mean the bridge will never take this reply, however long claw waits
PERMANENT_STATUSES = (400, 413, 422)


class WhatsAppBridge:
    name = "whatsapp"

    def __init__(self, base_url: str, *, allowed_chats: set[str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.allowed_chats = allowed_chats or set()
        self.http = requests.Session()

    def fetch(self, cursor: str) -> PollBatch:
        try:
            response = self.http.get(
                f"{self.base_url}/messages", params={"since": cursor}, timeout=TIMEOUT
            )
            response.raise_for_status()
            page = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise PollError(f"whatsapp bridge: {type(exc).__name__}: {str(exc)[:200]}") from None
        items = page.get("messages") if isinstance(page, dict) else None
        next_cursor = as_id(page.get("cursor")) if isinstance(page, dict) else None
        if not isinstance(items, list) or next_cursor is None:
            raise PollError("whatsapp bridge: unexpected answer: no messages list or no cursor")
        notes: list[ItemNote] = []
        messages = []
        for position, item in enumerate(items):
            incoming = self._incoming(item, position, notes)
            if incoming is not None and (not self.allowed_chats or incoming.chat_id in self.allowed_chats):
                messages.append(incoming)
        return PollBatch(messages, next_cursor, notes)

    def _incoming(self, item: Any, position: int, notes: list[ItemNote]) -> IncomingMessage | None:
        if not isinstance(item, dict):
            notes.append(ItemNote(self.name, "skipped", "malformed", item_ref(None, position)))
            return None
        ref = item_ref(item.get("id"), position)
        text = item.get("text")
        kind = item.get("type") or item.get("media_type")
        media = None
        if text is None or isinstance(kind, str) and kind.lower() in MEDIA_NAMES:
            media = MEDIA_NAMES.get(str(kind).lower(), "media")
            text = text if isinstance(text, str) and text.strip() else item.get("caption")
        return build_message(self.name, ref=ref, external_id=item.get("id"),
                             chat_id=item.get("chat_id"), sender=item.get("sender"), text=text,
                             media=media, notes=notes)

    def deliver(self, chat_id: str, text: str) -> None:
        try:
            response = self.http.post(
                f"{self.base_url}/send", json={"chat_id": chat_id, "text": text}, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise DeliveryError(f"whatsapp bridge send: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise DeliveryError(
                f"whatsapp bridge send: HTTP {response.status_code}",
                retry_after=retry_after_header(response),
                permanent=response.status_code in PERMANENT_STATUSES,
            )


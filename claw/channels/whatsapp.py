"""WhatsApp through a bridge: GET {bridge}/messages?since=<cursor>, POST {bridge}/send.

A page is ``{"messages": [...], "cursor": "..."}``, or, from the tutorial's bridge, just
``{"messages": [...]}``: that bridge hands out what is new and keeps no cursor, so claw's stays
as it was. A page of another shape is refused whole (PollError: the cursor stays), but inside a
good page each item is judged on its own (claw/channels/bridge_items.py, items.py): a media
item, a broken item or the bot's own message never holds back the others or the cursor.

A reply is posted as ``{"chat_id", "message", "text"}``: the tutorial's bridge reads
``message``, claw's own protocol ``text``; each ignores the field it does not know.
"""

from __future__ import annotations

import requests

from claw.channels.base import DeliveryError, PollBatch, PollError, retry_after_header
from claw.channels.bridge_items import PageReader
from claw.channels.items import as_id

TIMEOUT = (3, 10)  #: (connect, read) seconds
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
        if not isinstance(items, list):
            raise PollError("whatsapp bridge: unexpected answer: no messages list")
        # a bridge without cursors (the tutorial's) leaves claw's where it was
        next_cursor = as_id(page.get("cursor"))
        reader = PageReader(self.name)
        messages = []
        for position, item in enumerate(items):
            incoming = reader.read(item, position)
            if incoming is not None and (not self.allowed_chats or incoming.chat_id in self.allowed_chats):
                messages.append(incoming)
        return PollBatch(messages, cursor if next_cursor is None else next_cursor, reader.notes)

    def deliver(self, chat_id: str, text: str) -> None:
        try:
            response = self.http.post(
                f"{self.base_url}/send", json={"chat_id": chat_id, "message": text, "text": text}, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise DeliveryError(f"whatsapp bridge send: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise DeliveryError(
                f"whatsapp bridge send: HTTP {response.status_code}",
                retry_after=retry_after_header(response),
                permanent=response.status_code in PERMANENT_STATUSES,
            )


"""WhatsApp through a bridge: GET {bridge}/messages?since=<cursor>, POST {bridge}/send."""

from __future__ import annotations

import requests
from pydantic import BaseModel, ValidationError

from claw.channels.base import DeliveryError, PollBatch, PollError
from claw.pipeline.inbox import IncomingMessage

TIMEOUT = (3, 10)  #: (connect, read) seconds


class BridgeMessage(BaseModel):
    id: str
    chat_id: str
    sender: str
    text: str
    timestamp: float | str | None = None


class BridgePage(BaseModel):
    messages: list[BridgeMessage]
    cursor: str


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
            page = BridgePage.model_validate(response.json())
        except (requests.RequestException, ValueError, ValidationError) as exc:
            raise PollError(f"whatsapp bridge: {type(exc).__name__}: {str(exc)[:200]}") from exc
        messages = [
            IncomingMessage(
                channel=self.name,
                chat_id=m.chat_id,
                sender=m.sender,
                text=m.text,
                external_id=m.id,
                created_at=None,  # arrival time drives cooldown and staleness, not the phone's clock
            )
            for m in page.messages
            if not self.allowed_chats or m.chat_id in self.allowed_chats
        ]
        return PollBatch(messages, page.cursor)

    def deliver(self, chat_id: str, text: str) -> None:
        try:
            response = self.http.post(
                f"{self.base_url}/send", json={"chat_id": chat_id, "text": text}, timeout=TIMEOUT
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            raise DeliveryError(f"whatsapp bridge send: {type(exc).__name__}") from exc

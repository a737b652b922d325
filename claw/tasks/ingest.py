"""``claw.ingest``: store one message pushed by another system, then queue its group's turn."""

from __future__ import annotations

from claw.celery_app import app
from claw.db import write_session
from claw.pipeline.dispatch import enqueue_send, enqueue_turn
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.pairing import hold


@app.task(name="claw.ingest")
def ingest(
    channel: str, chat_id: str, sender: str, text: str, external_id: str | None = None
) -> int:
    incoming = IncomingMessage(channel, chat_id, sender, text, external_id)
    with write_session() as session:
        stored = store_message(session, incoming)
        notice = hold(session, stored, incoming)
    if stored.starts_turn:
        enqueue_turn(stored.group_id, priority=stored.priority)
    if notice is not None:
        enqueue_send(notice)
    return stored.id

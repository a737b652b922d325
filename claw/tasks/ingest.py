"""``claw.ingest``: store one message pushed by another system, then queue its group's turn."""

from __future__ import annotations

from claw.celery_app import app
from claw.db import write_session
from claw.pipeline.dispatch import enqueue_turn
from claw.pipeline.inbox import IncomingMessage, store_message


@app.task(name="claw.ingest")
def ingest(
    channel: str, chat_id: str, sender: str, text: str, external_id: str | None = None
) -> int:
    with write_session() as session:
        stored = store_message(session, IncomingMessage(channel, chat_id, sender, text, external_id))
    if stored.created:
        enqueue_turn(stored.group_id, priority=stored.priority)
    return stored.id

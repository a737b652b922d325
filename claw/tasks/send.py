"""``claw.send(outbox_id)``: deliver one reply through its channel, on the io queue."""

from __future__ import annotations

from claw.celery_app import app
from claw.pipeline.delivery import Delivery, deliver
from claw.pipeline.dispatch import enqueue_send

MAX_BACKOFF_SECONDS = 60


@app.task(name="claw.send")
def send(outbox_id: int) -> str:
    outcome, attempts = deliver(outbox_id)
    if outcome == Delivery.RETRY:
        enqueue_send(outbox_id, countdown=min(MAX_BACKOFF_SECONDS, 2**attempts))
    return outcome

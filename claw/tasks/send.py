"""``claw.send(outbox_id)``: deliver a reply's chat through its channel, on the io queue.

When the chat's oldest reply failed, the next attempt is queued for when it is due; the
sweeper re-queues it too should that task be lost, and picks up waits too long for a countdown.
"""

from __future__ import annotations

from claw.celery_app import app
from claw.pipeline.delivery import Delivery, deliver
from claw.pipeline.dispatch import enqueue_send

#: longest countdown given to Celery (far below the broker's visibility timeout); a longer
#: wait (Telegram's retry_after can be long) is left to the sweeper
MAX_COUNTDOWN_SECONDS = 600


@app.task(name="claw.send")
def send(outbox_id: int) -> str:
    result = deliver(outbox_id)
    if result.outcome == Delivery.RETRY and result.retry_in is not None and result.head_id:
        if result.retry_in <= MAX_COUNTDOWN_SECONDS:
            enqueue_send(result.head_id, countdown=result.retry_in)
    elif result.outcome == Delivery.MORE:
        enqueue_send(outbox_id)
    return result.outcome

"""``claw.send(outbox_id)``: deliver one reply through its channel, on the io queue."""

from __future__ import annotations

import logging

from claw.channels import channel_for
from claw.celery_app import app
from claw.config import get_settings
from claw.db import Group, write_session
from claw.dispatch import enqueue_send
from claw.outbox import claim, give_back, mark_sent
from claw.redis_client import get_redis, reply_channel

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60


@app.task(name="claw.send")
def send(outbox_id: int) -> str:
    with write_session() as session:
        row = claim(session, outbox_id)
        if row is None:
            return "skipped"  # already sent, or another send task holds it
        group = session.get(Group, row.group_id)
        assert group is not None
        channel_name, chat_id, text, attempts = group.channel, group.chat_id, row.text, row.attempts
        group_id = group.id
    try:
        channel_for(channel_name).deliver(chat_id, text)
    except Exception as exc:
        give_up = attempts >= get_settings().send_max_attempts
        with write_session() as session:
            give_back(session, outbox_id, f"{type(exc).__name__}: {exc}", give_up=give_up)
        log.warning(
            "send_failed outbox=%s group=%s attempt=%d give_up=%s error=%s",
            outbox_id, group_id, attempts, give_up, type(exc).__name__,
        )
        if not give_up:
            enqueue_send(outbox_id, countdown=min(MAX_BACKOFF_SECONDS, 2**attempts))
        return "failed"
    with write_session() as session:
        mark_sent(session, outbox_id)
    try:
        get_redis().publish(reply_channel(group_id), str(outbox_id))
    except Exception:
        pass  # waiters also re-check the database on their own
    log.info("send_done outbox=%s group=%s", outbox_id, group_id)
    return "sent"

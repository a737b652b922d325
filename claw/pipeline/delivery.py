"""Delivering one outbox row through its channel: claim, deliver, mark sent, announce.

Used by the ``claw.send`` task for channels that push (WhatsApp). Replies on channels whose
clients pull (HTTP, terminal, web) are committed already delivered (claw.pipeline.outbox.new_row); the
turn only announces them, so they skip a task hop and two write transactions.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from claw.channels import PULL_CHANNELS, channel_for
from claw.config import get_settings
from claw.db import Group, write_session
from claw.pipeline.outbox import claim, give_back, mark_sent
from claw.redis_client import get_redis, reply_channel

log = logging.getLogger(__name__)


class Delivery(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  #: already sent, or another sender holds it
    RETRY = "retry"  #: the channel failed; try again later
    GAVE_UP = "gave_up"


def delivers_inline(channel: str) -> bool:
    return channel in PULL_CHANNELS


def deliver(outbox_id: int) -> tuple[Delivery, int]:
    """Returns the outcome and the number of attempts made so far."""
    with write_session() as session:
        row = claim(session, outbox_id)
        if row is None:
            return Delivery.SKIPPED, 0
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
        return (Delivery.GAVE_UP if give_up else Delivery.RETRY), attempts
    with write_session() as session:
        mark_sent(session, outbox_id)
    announce(group_id, outbox_id)
    log.info("send_done outbox=%s group=%s", outbox_id, group_id)
    return Delivery.SENT, attempts


def announce(group_id: str, outbox_id: int) -> None:
    """Wake whoever waits for this group's reply (``POST /v1/messages?wait=``)."""
    try:
        get_redis().publish(reply_channel(group_id), str(outbox_id))
    except Exception:
        pass  # waiters also re-check the database on their own


def send_reply(group_id: str, outbox_id: int, channel: str) -> None:
    """After a reply is committed: announce it on a pull channel (it is delivered already),
    queue a send task on a push channel."""
    if delivers_inline(channel):
        announce(group_id, outbox_id)
    else:
        from claw.pipeline.dispatch import enqueue_send

        enqueue_send(outbox_id)

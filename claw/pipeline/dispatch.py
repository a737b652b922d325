"""Putting work on the queues: turns on their group's shard queue, sends on the io queue.

Enqueueing is best effort by design: the database already holds the message or reply, and the
beat-fired sweeper re-enqueues whatever is still pending, so a Redis outage delays, never loses.
"""

from __future__ import annotations

import logging

from claw.celery_app import app
from claw.config import get_settings
from claw.pipeline.failures import BACKOFF_KEY
from claw.pipeline.routing import IO_QUEUE, shard_queue
from claw.redis_client import get_redis

log = logging.getLogger(__name__)

#: Redis list priorities (kombu's Redis transport consumes 0 first).
PRIORITY_GROUP = 0
PRIORITY_NORMAL = 6

TURN_QUEUED_KEY = "claw:turn-queued:{group_id}"
#: how long a "turn already queued" marker may suppress new enqueues; the sweeper covers the rest
TURN_QUEUED_TTL = 30
#: one round trip on the hot path: no turn while the group backs off (its retry chain answers),
#: else at most one queued turn (``force`` skips that check). 1 = send a turn, 0 = don't.
_MAY_QUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[1] == '1' then return 1 end
if redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""


def turn_queued_key(group_id: str) -> str:
    return TURN_QUEUED_KEY.format(group_id=group_id)


def enqueue_turn(
    group_id: str,
    *,
    priority: bool = False,
    countdown: float | None = None,
    force: bool = False,
    retry: str | None = None,
) -> bool:
    """Queue a turn for the group unless one is already queued; returns whether one was sent.

    The "queued" marker keeps a burst of messages from queueing a burst of turns; the turn
    clears it before reading pending messages, so a message stored after that read queues anew.
    While the group backs off after a failure only its retry chain queues turns (``retry`` is
    the chain's token, claw.pipeline.failures): messages arriving meanwhile wait for it.
    """
    try:
        if retry is None:
            may_queue = get_redis().register_script(_MAY_QUEUE)
            keys = [BACKOFF_KEY.format(group_id=group_id), turn_queued_key(group_id)]
            if not may_queue(keys=keys, args=[int(force), TURN_QUEUED_TTL]):
                return False
        app.send_task(
            "claw.turn",
            args=[group_id],
            kwargs={"retry": retry} if retry else None,
            queue=shard_queue(group_id, get_settings().shards),
            priority=PRIORITY_GROUP if priority else PRIORITY_NORMAL,
            countdown=countdown,
        )
        return True
    except Exception as exc:  # Redis down: the sweeper will pick the group up later
        log.warning("enqueue_turn_failed group=%s error=%s", group_id, type(exc).__name__)
        return False


def enqueue_send(outbox_id: int, *, countdown: float | None = None) -> bool:
    try:
        app.send_task("claw.send", args=[outbox_id], queue=IO_QUEUE, countdown=countdown)
        return True
    except Exception as exc:
        log.warning("enqueue_send_failed outbox=%s error=%s", outbox_id, type(exc).__name__)
        return False

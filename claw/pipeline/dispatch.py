"""Putting work on the queues: turns on their group's shard queue, sends on the io queue.

Enqueueing is best effort by design: the database already holds the message or reply, and the
beat-fired sweeper re-enqueues whatever is still pending, so a Redis outage delays, never loses.
"""

from __future__ import annotations

import logging

import redis

from claw.celery_app import app
from claw.config import get_settings
from claw.pipeline.failures import BACKOFF_KEY
from claw.pipeline.lease import lease_key
from claw.pipeline.routing import (
    ASSIGN_FUNCTION_LUA,
    IO_QUEUE,
    NO_LIVE_SHARD,
    NOT_NOW,
    ROUTE_TTL,
    queue_of_shard,
    release,
    route_keys,
    shard_of,
)
from claw.redis_client import get_redis

log = logging.getLogger(__name__)

#: Redis list priorities (kombu's Redis transport consumes 0 first).
PRIORITY_GROUP = 0
PRIORITY_NORMAL = 6

TURN_QUEUED_KEY = "claw:turn-queued:{group_id}"
#: how long a "turn already queued" marker may suppress new enqueues; the sweeper covers the rest
TURN_QUEUED_TTL = 30
#: Nothing to queue (the group backs off, or a turn of it is queued already).
SKIPPED = -3
#: one round trip on the hot path: no turn while the group backs off (its retry chain answers),
#: else at most one queued turn (``force`` skips that check; a retry chain, ARGV[3], skips
#: both), then the group's shard (claw.pipeline.routing). Returns the shard, NOT_NOW,
#: NO_LIVE_SHARD or SKIPPED.
_MAY_QUEUE = ASSIGN_FUNCTION_LUA + """
if ARGV[3] ~= '1' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return -3 end
  if ARGV[1] ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -3 end
end
local shard = assign(KEYS[3], KEYS[4], KEYS[5], ARGV[4], ARGV[5])
if shard ~= -1 and ARGV[3] ~= '1' and ARGV[1] ~= '1' then
  redis.call('SET', KEYS[2], 1, 'EX', ARGV[2])
end
return shard
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
    client = None
    shard = NO_LIVE_SHARD
    fallback = False
    try:
        client = get_redis()
        may_queue = client.register_script(_MAY_QUEUE)
        keys = [BACKOFF_KEY.format(group_id=group_id), turn_queued_key(group_id),
                *route_keys(group_id), lease_key(group_id)]
        shard = int(may_queue(keys=keys, args=[int(force), TURN_QUEUED_TTL, int(retry is not None),
                                               group_id, ROUTE_TTL]))
        if shard == SKIPPED:
            return False
        if shard == NOT_NOW:  # its shard died mid-turn: the sweeper moves it once the lease expires
            log.info("turn_deferred group=%s reason=shard_down", group_id)
            return False
        if shard < 0:  # no live shard yet: hash onto this host's own shards (CLAW_SHARD_BASE..)
            settings = get_settings()
            shard = settings.shard_base + shard_of(group_id, settings.shards)
            fallback = True
        queue = queue_of_shard(shard)
        app.send_task(
            "claw.turn",
            args=[group_id],
            kwargs={"retry": retry} if retry else None,
            queue=queue,
            priority=PRIORITY_GROUP if priority else PRIORITY_NORMAL,
            countdown=countdown,
        )
        return True
    except Exception as exc:  # Redis down: the sweeper will pick the group up later
        log.warning("enqueue_turn_failed group=%s error=%s", group_id, type(exc).__name__)
        if client is not None and shard >= 0 and not fallback:
            _give_back(client, group_id, shard)
        return False


def _give_back(client: redis.Redis, group_id: str, shard: int) -> None:
    """A turn that was assigned but never sent gives its unit of work back."""
    try:
        release(client, group_id, shard)
    except Exception:
        pass  # the assignment expires on its own (ROUTE_TTL)


def enqueue_send(outbox_id: int, *, countdown: float | None = None) -> bool:
    try:
        app.send_task("claw.send", args=[outbox_id], queue=IO_QUEUE, countdown=countdown)
        return True
    except Exception as exc:
        log.warning("enqueue_send_failed outbox=%s error=%s", outbox_id, type(exc).__name__)
        return False

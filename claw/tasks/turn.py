"""``claw.turn(group_id)``: answer all of a group's pending messages, on its shard queue."""

from __future__ import annotations

import logging
from functools import lru_cache

from claw.agent import Provider, ProviderError, make_provider
from claw.celery_app import app
from claw.config import get_settings
from claw.db import Group, read_session
from claw.dispatch import enqueue_send, enqueue_turn, turn_queued_key
from claw.lease import LeaseBusy, group_lease, lease_key
from claw.redis_client import get_redis
from claw.turns import TurnOutcome, answer_pending

log = logging.getLogger(__name__)

PROVIDER_RETRY_SECONDS = 30


@lru_cache(maxsize=1)
def _provider() -> Provider:
    return make_provider(get_settings())


def _is_priority(group_id: str) -> bool:
    with read_session() as session:
        group = session.get(Group, group_id)
        return bool(group and group.priority)


@app.task(name="claw.turn")
def turn(group_id: str) -> str:
    settings = get_settings()
    redis = get_redis()
    # Cleared before reading pending messages: anything stored after this point queues anew.
    redis.delete(turn_queued_key(group_id))
    try:
        with group_lease(redis, group_id, settings.lease_seconds):
            result = answer_pending(settings, _provider(), group_id)
    except LeaseBusy:
        wait = max(0.5, (redis.pttl(lease_key(group_id)) or 0) / 1000)
        enqueue_turn(group_id, priority=_is_priority(group_id), countdown=wait)
        return TurnOutcome.BUSY
    except ProviderError as exc:
        log.error("turn_provider_failed group=%s error=%s", group_id, exc)
        enqueue_turn(
            group_id, priority=_is_priority(group_id), countdown=PROVIDER_RETRY_SECONDS
        )
        return "provider_error"
    if result.outcome == TurnOutcome.COOLING:
        enqueue_turn(group_id, priority=_is_priority(group_id), countdown=result.retry_in)
    elif result.outcome == TurnOutcome.REPLIED and result.outbox_id is not None:
        enqueue_send(result.outbox_id)
    return result.outcome

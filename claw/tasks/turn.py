"""``claw.turn(group_id)``: answer all of a group's pending messages, on its shard queue.

A failed turn (of any kind, claw.pipeline.attempts) backs off and is retried by one chain of
turns carrying the chain's token (``retry``); a batch that keeps failing is set aside.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import lru_cache

from celery import Task
from sqlalchemy import bindparam, select

from claw.agent import Provider, make_provider
from claw.celery_app import app
from claw.channels import channel_for
from claw.channels.base import show_typing
from claw.config import get_settings
from claw.db import Group, read_session, write_session
from claw.pipeline.attempts import attempt_turn
from claw.pipeline.delivery import delivers_inline, send_reply
from claw.pipeline.dispatch import enqueue_turn, turn_queued_key
from claw.pipeline.failures import (
    BACKOFF_KEY,
    FailureKind,
    backoff_blocks,
    clear_failures,
    note_failure,
    note_model_answered,
    notice_text,
)
from claw.pipeline.lease import LeaseBusy, group_lease, lease_key
from claw.pipeline.progress import announce_typing, progress_publisher
from claw.pipeline.routing import release, shard_of_queue
from claw.pipeline.setaside import set_aside
from claw.pipeline.turns import TurnOutcome, TurnResult, answer_pending, notify_failure
from claw.redis_client import get_redis

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _provider() -> Provider:
    return make_provider(get_settings())


#: built once: a statement built per turn costs more CPU than the read (claw.pipeline.turns)
_GROUP_FLAGS = select(Group.priority, Group.channel, Group.chat_id).where(Group.id == bindparam("group_id"))


def _group_flags(group_id: str) -> tuple[bool, str, str]:
    """(priority, channel, chat_id) of the group."""
    with read_session() as session:
        row = session.execute(_GROUP_FLAGS, {"group_id": group_id}).first()
        return (bool(row.priority), row.channel, row.chat_id) if row else (False, "", "")


def _typing_starter(group_id: str, channel: str, chat_id: str) -> Callable[[], None]:
    def start() -> None:
        announce_typing(get_redis(), group_id)
        if channel and not delivers_inline(channel):
            # a push channel's own indicator is an HTTP call: never let it delay the turn
            threading.Thread(
                target=_show_typing, args=(channel, chat_id), name="typing", daemon=True
            ).start()

    return start


def _show_typing(channel: str, chat_id: str) -> None:
    try:
        show_typing(channel_for(channel), chat_id)
    except Exception:
        log.debug("typing_failed channel=%s", channel)


@app.task(name="claw.turn", bind=True)
def turn(self: Task, group_id: str, retry: str | None = None) -> str:
    """``retry``: the token of the retry chain this turn belongs to, if any.

    Whatever happens, the turn gives its unit of work back to its group's shard assignment at
    the end (claw.pipeline.routing), after any follow-up turn it queued took one.
    """
    shard = shard_of_queue((self.request.delivery_info or {}).get("routing_key"))
    try:
        return _turn(group_id, retry)
    finally:
        if shard is not None:
            try:
                release(get_redis(), group_id, shard)
            except Exception:  # Redis down: the assignment expires on its own
                log.warning("route_release_failed group=%s", group_id)


def _turn(group_id: str, retry: str | None) -> str:
    settings = get_settings()
    redis = get_redis()
    # Cleared before reading pending messages: anything stored after this point queues anew.
    _, backoff = (redis.pipeline(transaction=False).delete(turn_queued_key(group_id))
                  .get(BACKOFF_KEY.format(group_id=group_id)).execute())
    if backoff_blocks(redis, group_id, retry, current=backoff):
        log.info("turn_skipped group=%s reason=backoff", group_id)
        return TurnOutcome.BACKOFF
    priority, channel, chat_id = _group_flags(group_id)
    try:
        with group_lease(redis, group_id, settings.lease_seconds):
            result = attempt_turn(
                settings,
                redis,
                group_id,
                lambda: answer_pending(
                    settings,
                    _provider(),
                    group_id,
                    on_text=progress_publisher(redis, group_id),
                    on_start=_typing_starter(group_id, channel, chat_id),
                ),
            )
    except LeaseBusy:
        wait = max(0.5, (redis.pttl(lease_key(group_id)) or 0) / 1000)
        enqueue_turn(group_id, priority=priority, countdown=wait, retry=retry)
        return TurnOutcome.BUSY
    if result.outcome == TurnOutcome.COOLING:
        enqueue_turn(group_id, priority=priority, countdown=result.retry_in, retry=retry)
    elif result.outcome == TurnOutcome.FAILED:
        _after_failure(group_id, priority, channel, result)
    elif result.outcome == TurnOutcome.REPLIED and result.outbox_id is not None:
        clear_failures(redis, group_id)
        note_model_answered(redis)
        send_reply(group_id, result.outbox_id, channel)
    return result.outcome


def _after_failure(group_id: str, priority: bool, channel: str, result: TurnResult) -> None:
    """Count the failure; tell the group once; retry after a backoff, or set the batch aside."""
    assert result.failure is not None
    settings, redis = get_settings(), get_redis()
    failure = result.failure
    verdict = note_failure(
        redis, group_id, failure,
        base_delay=(settings.interrupted_retry_delay if failure.kind == FailureKind.INTERRUPTED
                    else settings.llm_retry_delay),
        max_attempts=settings.turn_max_attempts,
        give_up_after=settings.turn_give_up_after,
    )
    log.warning("turn_failed group=%s kind=%s attempts=%d retry_in=%.1f give_up=%s",
                group_id, failure.kind, verdict.attempts, verdict.retry_in, verdict.give_up)
    if verdict.give_up:
        reason = f"{failure.kind}: {failure.detail}"
        with write_session() as session:
            outbox_id = set_aside(session, group_id, upto_id=result.newest_pending_id,
                                  reason=reason, attempts=verdict.attempts)
        clear_failures(redis, group_id)
        if outbox_id is not None:
            send_reply(group_id, outbox_id, channel)
        enqueue_turn(group_id, priority=priority, force=True)  # the messages that came later
        return
    if verdict.notify:
        outbox_id = notify_failure(group_id, notice_text(failure, retry_in=verdict.retry_in))
        if outbox_id is not None:
            send_reply(group_id, outbox_id, channel)
    enqueue_turn(group_id, priority=priority, countdown=verdict.retry_in, retry=verdict.token)


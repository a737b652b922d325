"""``claw.turn(group_id)``: answer all of a group's pending messages, on its shard queue."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import lru_cache

from claw.agent import Provider, make_provider
from claw.celery_app import app
from claw.channels import channel_for
from claw.channels.base import show_typing
from claw.config import get_settings
from claw.db import Group, read_session
from claw.pipeline.delivery import delivers_inline, send_reply
from claw.pipeline.dispatch import enqueue_turn, turn_queued_key
from claw.pipeline.failures import clear_failures, note_failure, notice_text
from claw.pipeline.lease import LeaseBusy, group_lease, lease_key
from claw.pipeline.progress import announce_typing, progress_publisher
from claw.pipeline.turns import TurnOutcome, TurnResult, answer_pending, notify_failure
from claw.redis_client import get_redis

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _provider() -> Provider:
    return make_provider(get_settings())


def _group_flags(group_id: str) -> tuple[bool, str, str]:
    """(priority, channel, chat_id) of the group."""
    with read_session() as session:
        group = session.get(Group, group_id)
        return (bool(group.priority), group.channel, group.chat_id) if group else (False, "", "")


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


@app.task(name="claw.turn")
def turn(group_id: str) -> str:
    settings = get_settings()
    redis = get_redis()
    # Cleared before reading pending messages: anything stored after this point queues anew.
    redis.delete(turn_queued_key(group_id))
    priority, channel, chat_id = _group_flags(group_id)
    try:
        with group_lease(redis, group_id, settings.lease_seconds):
            result = answer_pending(
                settings,
                _provider(),
                group_id,
                on_text=progress_publisher(redis, group_id),
                on_start=_typing_starter(group_id, channel, chat_id),
            )
    except LeaseBusy:
        wait = max(0.5, (redis.pttl(lease_key(group_id)) or 0) / 1000)
        enqueue_turn(group_id, priority=priority, countdown=wait)
        return TurnOutcome.BUSY
    if result.outcome == TurnOutcome.COOLING:
        enqueue_turn(group_id, priority=priority, countdown=result.retry_in)
    elif result.outcome == TurnOutcome.FAILED:
        _after_failure(group_id, priority, channel, result)
    elif result.outcome == TurnOutcome.REPLIED and result.outbox_id is not None:
        clear_failures(redis, group_id)
        send_reply(group_id, result.outbox_id, channel)
    return result.outcome


def _after_failure(group_id: str, priority: bool, channel: str, result: TurnResult) -> None:
    assert result.error is not None
    notify, retry_in = note_failure(
        get_redis(), group_id, result.newest_pending_id, base_delay=get_settings().llm_retry_delay
    )
    if notify:
        outbox_id = notify_failure(group_id, notice_text(str(result.error), retryable=result.error.retryable))
        if outbox_id is not None:
            send_reply(group_id, outbox_id, channel)
    enqueue_turn(group_id, priority=priority, countdown=retry_in, force=True)


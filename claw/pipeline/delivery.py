"""Delivering a chat's replies through its channel: in order, one sender at a time, retried.

Used by the ``claw.send`` task for channels that push (WhatsApp, Telegram). Replies on channels
whose clients pull (HTTP, terminal, web) are committed already delivered
(claw.pipeline.outbox.new_row); the turn only announces them. Every delivery, on either kind of
channel, is announced (``announce``): logged on the group's delivery log
(claw.pipeline.delivery_log), which `claw chat` and the event stream show.

A send task names one reply but delivers its chat: it sends the chat's oldest undelivered
reply, then the next, until none is left or one fails. Only that oldest reply is ever claimed,
and one being sent holds the chat, so two sends to one chat never run at once; the chat's send
lock (a redis-py ``Lock``, renewed as parts go out) is the second guard, as the lease is for
turns, for a reply the sweeper hands back while its slow sender still works on it. A failure holds the chat back (a later
reply never overtakes an earlier one) until the next attempt is due: Telegram's retry_after
when it gave one, else an exponential backoff (CLAW_SEND_RETRY_DELAY doubling up to
CLAW_SEND_RETRY_MAX_DELAY). After CLAW_SEND_GIVE_UP_AFTER hours of failing, or at once when the
channel refuses the reply itself (a bad request), the reply is marked ``failed``: listed by
`claw outbox`, counted in /metrics, retryable with `claw outbox retry`, and no longer in the way.

A reply the channel takes in parts (Telegram's 4096-character messages) records each part
delivered, so a retry resumes after the last one instead of repeating them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from redis import Redis
from redis.exceptions import LockError
from sqlalchemy import select

from claw.channels import PULL_CHANNELS, DeliveryError, channel_for
from claw.channels.base import Channel, parts_of
from claw.config import Settings, get_settings
from claw.db import Group, Outbox, read_session, write_session
from claw.db.models import OutboxStatus, utcnow
from claw.faults import fault_point
from claw.pipeline.delivery_log import record_delivery
from claw.pipeline.lease import LockKeeper
from claw.pipeline.outbox import (
    as_utc,
    claim,
    defer,
    fail,
    failing_since,
    head_of_chat,
    mark_part_sent,
    mark_sent,
)
from claw.redis_client import get_redis, reply_channel

log = logging.getLogger(__name__)

SEND_LOCK_KEY = "claw:send-lock:{group_id}"
# The chat's send lock is held while its holder lives and makes progress: a thread of the
# holder (claw.pipeline.lease.LockKeeper, as for the group lease) renews it every third of
# SEND_LOCK_TTL until CLAW_STUCK_SEND_SECONDS (60 s) have passed since its last progress (the lock, every part), when the sweeper also hands the reply
# it claimed back. A sender that dies (the io worker killed) lets go within SEND_LOCK_TTL: the
# lock used to live the whole 60 s, holding up the chat's later replies though it had claimed
# none of them (each thread of a killed io worker held one chat so).
#: seconds the chat's send lock outlives its holder
SEND_LOCK_TTL = 10.0
#: how long a send waits for the chat's lock before leaving the chat to the sender holding it
#: (which checks for more replies before it lets go, so nothing is left behind)
LOCK_WAIT_SECONDS = 1
#: replies one task delivers before handing the chat to a fresh task
DRAIN_LIMIT = 50


class Delivery(StrEnum):
    SENT = "sent"  #: every reply that was due went out
    IDLE = "idle"  #: nothing was due (all sent, or the chat waits for its next attempt)
    BUSY = "busy"  #: another sender holds the chat; it delivers what is due
    RETRY = "retry"  #: the chat's oldest reply failed; its next attempt is scheduled
    MORE = "more"  #: DRAIN_LIMIT reached with replies still due


@dataclass(slots=True)
class ChatDelivery:
    outcome: Delivery
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  #: given up in this run
    retry_in: float | None = None  #: seconds until the failed reply's next attempt
    head_id: int | None = None  #: the reply the chat waits on


def delivers_inline(channel: str) -> bool:
    return channel in PULL_CHANNELS


def send_lock_key(group_id: str) -> str:
    return SEND_LOCK_KEY.format(group_id=group_id)


def retry_delay(attempts: int, error: BaseException, settings: Settings) -> float:
    """Seconds until the next attempt: the channel's own word (retry_after), else a backoff
    doubling from CLAW_SEND_RETRY_DELAY with every attempt, capped at CLAW_SEND_RETRY_MAX_DELAY."""
    asked = getattr(error, "retry_after", None)
    if asked is not None:
        return float(asked)
    return min(settings.send_retry_max_delay,
               settings.send_retry_delay * 2 ** min(max(attempts - 1, 0), 30))


def deliver(outbox_id: int, *, redis: Redis | None = None, channel: Channel | None = None) -> ChatDelivery:
    """Deliver the chat of reply ``outbox_id`` (that reply and every earlier one first)."""
    with read_session() as session:
        group_id = session.scalar(select(Outbox.group_id).where(Outbox.id == outbox_id))
    if group_id is None:
        return ChatDelivery(Delivery.IDLE)
    return deliver_chat(group_id, redis=redis, channel=channel)


def deliver_chat(group_id: str, *, redis: Redis | None = None, channel: Channel | None = None) -> ChatDelivery:
    lock = (redis or get_redis()).lock(
        send_lock_key(group_id), timeout=SEND_LOCK_TTL, blocking_timeout=LOCK_WAIT_SECONDS,
        thread_local=False,  # renewed by its keeper's thread too
    )
    if not lock.acquire():
        return ChatDelivery(Delivery.BUSY)
    keeper = LockKeeper(lock, SEND_LOCK_TTL, name="send-lock", hold_for=get_settings().stuck_send_seconds,
                        join_timeout=5)
    try:
        return _drain(group_id, keeper, channel)
    finally:
        keeper.stop()
        try:
            lock.release()
        except LockError:
            pass  # expired while we worked: the next sender took over, nothing to undo


def _drain(group_id: str, keeper: LockKeeper, channel: Channel | None) -> ChatDelivery:
    settings = get_settings()
    result = ChatDelivery(Delivery.IDLE)
    with read_session() as session:
        group = session.get(Group, group_id)
        if group is None:
            return result
        channel_name, chat_id = group.channel, group.chat_id
    for _ in range(DRAIN_LIMIT):
        with write_session() as session:
            head = head_of_chat(session, group_id)
            if head is None or head.status == OutboxStatus.SENDING:
                # all delivered, or a sender that died holds the head: the sweeper hands it
                # back after CLAW_STUCK_SEND_SECONDS, and only then may it go out again
                return _finish(result)
            result.head_id = head.id
            if head.next_attempt_at is not None and as_utc(head.next_attempt_at) > utcnow():
                return _finish(result)
            row = claim(session, head.id)
            if row is None:
                return _finish(result)
            outbox_id, text, parts_sent = row.id, row.text, row.parts_sent
            attempts, first_failed_at = row.attempts, row.first_failed_at
        try:
            target = channel or channel_for(channel_name)
            parts = parts_of(target, text)
            for index in range(parts_sent, len(parts)):
                fault_point("send.before_part")
                fault_point(f"send.before_part@{group_id}")  # one group only, so tests share a stack
                target.deliver(chat_id, parts[index])
                if index + 1 < len(parts):
                    with write_session() as session:
                        mark_part_sent(session, outbox_id, index + 1)
                    if not _renew(keeper):  # the row stays claimed: the sweeper resumes it later
                        return _finish(result)
        except Exception as exc:
            if not _failed(group_id, outbox_id, attempts, first_failed_at, exc, settings, result):
                return result
            continue
        with write_session() as session:
            mark_sent(session, outbox_id, parts=len(parts))
        result.sent.append(outbox_id)
        announce(group_id, outbox_id)
        log.info("send_done outbox=%s group=%s attempt=%d parts=%d", outbox_id, group_id,
                 attempts, len(parts))
        if not _renew(keeper):
            return _finish(result)
    result.outcome = Delivery.MORE
    return result


def _renew(keeper: LockKeeper) -> bool:
    """After progress: restart the lock's expiry; False when it expired and may be another's."""
    keeper.progressed()
    try:
        keeper.lock.reacquire()
        return True
    except LockError:
        log.warning("send_lock_lost name=%s", keeper.lock.name)
        return False


def _failed(group_id: str, outbox_id: int, attempts: int, first_failed_at: datetime | None,
            exc: Exception, settings: Settings, result: ChatDelivery) -> bool:
    """Record a failed attempt; returns whether the chat goes on with its next reply."""
    error = f"{type(exc).__name__}: {exc}"
    now = utcnow()
    since = as_utc(first_failed_at) if first_failed_at is not None else now
    permanent = isinstance(exc, DeliveryError) and exc.permanent
    timed_out = now - since >= timedelta(hours=settings.send_give_up_after)
    if permanent or timed_out:
        with write_session() as session:
            fail(session, outbox_id, error)
            if timed_out:
                failing_since(session, group_id, since)
        log.warning("send_gave_up outbox=%s group=%s attempt=%d reason=%s error=%s", outbox_id,
                    group_id, attempts, "refused" if permanent else "time", type(exc).__name__)
        result.failed.append(outbox_id)
        return True
    delay = retry_delay(attempts, exc, settings)
    with write_session() as session:
        defer(session, outbox_id, error, retry_at=now + timedelta(seconds=delay))
    log.warning("send_failed outbox=%s group=%s attempt=%d retry_in=%.1f error=%s", outbox_id,
                group_id, attempts, delay, type(exc).__name__)
    result.outcome, result.retry_in, result.head_id = Delivery.RETRY, delay, outbox_id
    return False


def _finish(result: ChatDelivery) -> ChatDelivery:
    if result.sent:
        result.outcome = Delivery.SENT
    return result


def announce(group_id: str, outbox_id: int) -> None:
    """A reply was delivered: log it on the group's delivery log (what `claw chat` and the
    event stream show) and wake whoever waits for it (``POST /v1/messages?wait=``), in one
    round trip."""
    try:
        pipe = get_redis().pipeline(transaction=False)
        record_delivery(pipe, group_id, outbox_id)
        pipe.publish(reply_channel(group_id), str(outbox_id))
        pipe.execute()
    except Exception:
        # waiters re-check the database on their own; the message is in the group's history
        log.warning("announce_failed outbox=%s group=%s", outbox_id, group_id)


def send_reply(group_id: str, outbox_id: int, channel: str) -> None:
    """After a reply is committed: announce it on a pull channel (it is delivered already),
    queue a send task on a push channel."""
    if delivers_inline(channel):
        announce(group_id, outbox_id)
    else:
        from claw.pipeline.dispatch import enqueue_send

        enqueue_send(outbox_id)

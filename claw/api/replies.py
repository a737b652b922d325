"""Waiting for the reply to a message (``POST /v1/messages?wait=``).

The send task announces each delivered reply on a Redis channel; the waiter subscribes before
its first database check, so an announcement can never slip between check and wait. Without
Redis it falls back to polling the database.

An announcement can still be missed: the turn's process may die between committing a reply
and announcing it, and its redone turn finds nothing to answer. So a subscribed waiter also
re-checks the database every RECHECK_SECONDS. Not every second: with 64 waiters answered
slowly (claw bench scale, one shard) those re-checks were half the API's CPU per message
(30.9 ms, 15.9 ms at 5 s), for a case that almost never happens.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from fastapi.concurrency import run_in_threadpool
from redis.asyncio.client import PubSub
from sqlalchemy import bindparam, select

from claw.api.schemas import ReplyOut
from claw.db import Message, Outbox, read_session
from claw.db.models import OutboxStatus
from claw.redis_client import reply_channel

FALLBACK_POLL_SECONDS = 0.25
#: how often a subscribed waiter looks in the database without an announcement (a lost one)
RECHECK_SECONDS = 5.0


#: built once: every waiter runs it at least twice (claw.pipeline.turns says why)
_SENT_REPLY = (
    select(Outbox.id, Outbox.text, Outbox.created_at)
    .join(Message, Message.answered_by == Outbox.id)
    .where(Message.id == bindparam("message_id"), Outbox.status == OutboxStatus.SENT)
)


def find_reply(message_id: int) -> ReplyOut | None:
    with read_session() as session:
        row = session.execute(_SENT_REPLY, {"message_id": message_id}).first()
    return ReplyOut(id=row.id, text=row.text, created_at=row.created_at) if row else None


async def _announcement(pubsub: PubSub, timeout: float) -> None:
    """Return at the next announcement on the channel, or after ``timeout`` seconds.

    The confirmation of the subscription is no news: ``get_message(ignore_subscribe_messages=
    True)`` hands it back as an immediate None, which looked like a wake-up and cost every
    waiter a second, useless look in the database."""
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        message = await pubsub.get_message(timeout=left)
        if message is not None and message.get("type") == "message":
            return


async def wait_for_reply(
    client: aioredis.Redis, group_id: str, message_id: int, timeout: float
) -> ReplyOut | None:
    deadline = time.monotonic() + timeout
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(reply_channel(group_id))
        subscribed = True
    except Exception:
        subscribed = False
    try:
        while True:
            reply = await run_in_threadpool(find_reply, message_id)
            remaining = deadline - time.monotonic()
            if reply or remaining <= 0:
                return reply
            if subscribed:
                try:
                    await _announcement(pubsub, min(remaining, RECHECK_SECONDS))
                    continue
                except Exception:
                    subscribed = False
            await asyncio.sleep(min(remaining, FALLBACK_POLL_SECONDS))
    finally:
        try:
            await pubsub.aclose()
        except Exception:
            pass

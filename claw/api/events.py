"""GET /v1/groups/{id}/events: a group's live events as server-sent events.

Events (README "Event stream" documents them for clients):

- ``reply``, with an ``id``: a message claw delivered to the group, whatever made it (an answer,
  a reminder, a scheduled prompt's result, a message from sandboxed code, a notice), read from
  the group's delivery log (claw.pipeline.delivery_log) in the order of delivery;
- ``typing``: a turn's model is at work (sent as the turn starts and as text streams, and at
  once on connecting while a turn runs, so a client that connects late still shows it).

The first thing sent is ``: subscribed`` with the stream's current ``id``: from then on
nothing is missed, and a client that reconnects with that id (or the last event's) in the
``Last-Event-ID`` header, as browsers' EventSource do, is sent what was delivered meanwhile
(``last_event_id`` in the query does the same for clients that cannot set headers; ``0`` means
everything the log still holds). The stream ends when the client goes away, after ``seconds``,
or when the server stops (sse-starlette watches uvicorn's exit flag: an open stream would
otherwise hold a shutdown until it is killed); clients reconnect.

sse-starlette (EventSourceResponse) does the framing, keep-alive pings, disconnects and the
shutdown; this module decides what the events are.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from redis.exceptions import RedisError
from sqlalchemy import select
from sse_starlette import EventSourceResponse, ServerSentEvent

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, NOT_FOUND_RESPONSES
from claw.api.schemas import GroupId
from claw.db import Group, Message, Outbox, read_session
from claw.pipeline.delivery_log import OUTBOX_FIELD, log_key, valid_entry_id
from claw.pipeline.lease import lease_key
from claw.pipeline.outbox import as_utc
from claw.pipeline.progress import progress_channel
from claw.redis_client import reply_channel

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)

KEEPALIVE_SECONDS = 15.0
MAX_STREAM_SECONDS = 3600.0
#: the log is read this often even without a wake-up, should a pub/sub message be lost
RECHECK_SECONDS = 5.0
#: log entries read in one go
BATCH = 100
#: what a browser's EventSource waits before it reconnects, in ms
RECONNECT_MS = 2000
START = "0-0"


def _event(**fields: Any) -> ServerSentEvent:
    return ServerSentEvent(sep="\n", **fields)


def _delivered(group_id: str, outbox_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The event data of these deliveries; only the group's own rows, whatever the log says."""
    with read_session() as session:
        rows = session.execute(
            select(Outbox.id, Outbox.text, Outbox.message_id, Outbox.answers_upto_id,
                   Outbox.created_at, Outbox.sent_at, Message.kind)
            .outerjoin(Message, Message.id == Outbox.message_id)
            .where(Outbox.group_id == group_id, Outbox.id.in_(outbox_ids))
        ).all()
    return {
        row.id: {
            "outbox_id": row.id,
            "message_id": row.message_id,
            "kind": row.kind or "chat",
            "text": row.text,
            "answers_upto_id": row.answers_upto_id or 0,
            "created_at": as_utc(row.created_at).isoformat(),
            "delivered_at": as_utc(row.sent_at or row.created_at).isoformat(),
        }
        for row in rows
    }


async def _read_log(
    redis: aioredis.Redis, group_id: str, cursor: str
) -> tuple[str, list[ServerSentEvent]]:
    """The deliveries after ``cursor`` as ``reply`` events, and the new cursor."""
    events: list[ServerSentEvent] = []
    while True:
        answer = await redis.xread({log_key(group_id): cursor}, count=BATCH)
        entries = answer[0][1] if answer else []
        if not entries:
            return cursor, events
        ids = [(entry_id.decode(), int(fields.get(OUTBOX_FIELD.encode(), b"0"))) for entry_id, fields in entries]
        rows = await run_in_threadpool(_delivered, group_id, [outbox_id for _, outbox_id in ids])
        for entry_id, outbox_id in ids:
            row = rows.get(outbox_id)
            if row is not None:  # else a log entry from a database this stack no longer has
                events.append(_event(id=entry_id, event="reply", data=json.dumps(row)))
        cursor = ids[-1][0]
        if len(entries) < BATCH:
            return cursor, events


async def _log_end(redis: aioredis.Redis, group_id: str) -> str:
    newest = await redis.xrevrange(log_key(group_id), count=1)
    return newest[0][0].decode() if newest else START


async def _events(redis: aioredis.Redis, group_id: str, cursor: str | None, limit: float) -> AsyncIterator[ServerSentEvent]:
    pubsub = redis.pubsub()
    typing, replies = progress_channel(group_id), reply_channel(group_id)
    try:
        # subscribed before the log is read: a delivery after that read wakes us
        await pubsub.subscribe(typing, replies)
        if cursor is None:
            cursor = await _log_end(redis, group_id)
        yield _event(comment="subscribed", id=cursor, retry=RECONNECT_MS)
        if await redis.exists(lease_key(group_id)):
            yield _event(event="typing", data=json.dumps({"typing": True, "chars": 0}))
        deadline = time.monotonic() + limit
        recheck_at = 0.0
        while (now := time.monotonic()) < deadline:
            if now >= recheck_at:
                cursor, events = await _read_log(redis, group_id, cursor)
                for event in events:
                    yield event
                recheck_at = time.monotonic() + RECHECK_SECONDS
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(1.0, max(deadline - now, 0.01))
            )
            if message is None:
                continue
            if message["channel"].decode() == typing:
                yield _event(event="typing", data=message["data"].decode())
            else:
                recheck_at = 0.0
    except RedisError as exc:
        # the client reconnects and resumes from its last event id once Redis is back
        log.warning("event_stream_ended group=%s error=%s", group_id, type(exc).__name__)
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await pubsub.aclose()
            except RedisError:
                pass


def _group_exists(group_id: str) -> bool:
    with read_session() as session:
        return session.get(Group, group_id) is not None


@router.get("/groups/{group_id:path}/events", response_class=EventSourceResponse, responses=NOT_FOUND_RESPONSES)
async def group_events(
    request: Request,
    group_id: GroupId,
    seconds: float = Query(default=MAX_STREAM_SECONDS, gt=0, le=MAX_STREAM_SECONDS,
                           description="the stream ends after this long; reconnect to go on"),
    last_event_id: str | None = Query(
        default=None, max_length=41,
        description="resume after this event id (as the Last-Event-ID header; the header wins); "
                    "0: everything the log still holds"),
    last_event_id_header: str | None = Header(default=None, alias="Last-Event-ID", max_length=41),
) -> EventSourceResponse:
    cursor = last_event_id_header or last_event_id
    if cursor is not None and not valid_entry_id(cursor):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            detail=f"Last-Event-ID {cursor!r} is not an event id of this stream")
    if not await run_in_threadpool(_group_exists, group_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown group {group_id!r}")
    return EventSourceResponse(
        _events(request.app.state.redis, group_id, cursor, seconds),
        ping=KEEPALIVE_SECONDS, sep="\n", headers={"Cache-Control": "no-cache"},
    )

"""GET /v1/groups/{id}/events: a group's live events as server-sent events.

``typing`` while a turn's model is producing text (the typing indicator for pull clients such
as `claw chat` and the web page) and ``reply`` with the outbox id when a reply is delivered.
The stream ends when the client goes away or after MAX_STREAM_SECONDS; clients reconnect.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, NOT_FOUND_RESPONSES
from claw.api.schemas import GroupId
from claw.db import Group, read_session
from claw.pipeline.progress import progress_channel
from claw.redis_client import reply_channel

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)

KEEPALIVE_SECONDS = 15.0
MAX_STREAM_SECONDS = 3600.0


async def _events(request: Request, group_id: str, limit: float) -> AsyncIterator[str]:
    pubsub = request.app.state.redis.pubsub()
    typing, replies = progress_channel(group_id), reply_channel(group_id)
    await pubsub.subscribe(typing, replies)
    yield ": subscribed\n\n"  # lets the client know it will not miss what happens next
    deadline = time.monotonic() + limit
    last_sent = time.monotonic()
    try:
        while time.monotonic() < deadline and not await request.is_disconnected():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                    last_sent = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            channel = message["channel"].decode()
            data = message["data"].decode()
            if channel == typing:
                yield f"event: typing\ndata: {data}\n\n"
            else:
                yield f"event: reply\ndata: {json.dumps({'outbox_id': int(data)})}\n\n"
            last_sent = time.monotonic()
    finally:
        await pubsub.aclose()


class EventStream(StreamingResponse):
    """A server-sent event stream; as the route's response_class it is what OpenAPI documents."""

    media_type = "text/event-stream"


def _group_exists(group_id: str) -> bool:
    with read_session() as session:
        return session.get(Group, group_id) is not None


@router.get("/groups/{group_id}/events", response_class=EventStream, responses=NOT_FOUND_RESPONSES)
async def group_events(
    request: Request,
    group_id: GroupId,
    seconds: float = Query(default=MAX_STREAM_SECONDS, gt=0, le=MAX_STREAM_SECONDS),
) -> StreamingResponse:
    if not await run_in_threadpool(_group_exists, group_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown group {group_id!r}")
    return EventStream(_events(request, group_id, seconds), headers={"Cache-Control": "no-cache"})

"""Routes of the HTTP API. Handlers are thin; storing and queueing live in claw.pipeline.inbox/dispatch."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, text
from starlette.convertors import Convertor, register_url_convertor

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, NOT_FOUND_RESPONSES, PUBLIC_RESPONSES
from claw.api.replies import wait_for_reply
from claw.api.schemas import (
    GroupId,
    GroupList,
    GroupOut,
    GroupPatch,
    Health,
    MessageAccepted,
    MessageIn,
    MessageOut,
    MessagePage,
)
from claw.db import Group, Message, read_session, write_session
from claw.db.models import MAX_ID
from claw.health import alive_workers, beat_alive
from claw.pipeline.dispatch import enqueue_turn
from claw.pipeline.inbox import IncomingMessage, StoredMessage, store_message
from claw.redis_client import get_redis

MAX_WAIT_SECONDS = 120


class _GroupConvertor(Convertor[str]):
    """A group id in ``/groups/{id}``, which may hold a ``/`` (``http:team/a``, a web chat named
    ``a/b``, an OpenAI ``user`` such as ``org/alice``): the other group routes take it as a
    ``path``, and this one takes any path too except one that ends as another group route does,
    so a 405 there still names only that route's methods."""

    regex = r"(?!.*/(?:messages|events|failed|failed/retry|personality|usage|approve|block)$)[^/].*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("group", _GroupConvertor())

public = APIRouter(responses=PUBLIC_RESPONSES)
api = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)


def _accept(body: MessageIn) -> StoredMessage:
    incoming = IncomingMessage(body.channel, body.chat_id, body.sender, body.text, body.external_id)
    with write_session() as session:
        stored = store_message(session, incoming)
    if stored.starts_turn:  # the API's channels answer every message (claw.pipeline.addressing)
        enqueue_turn(stored.group_id, priority=stored.priority)
    return stored


@api.post("/messages", status_code=status.HTTP_202_ACCEPTED, response_model=MessageAccepted,
          responses={200: {"model": MessageAccepted, "description": "stored, and the reply came within `wait`"}})
async def post_message(
    body: MessageIn,
    request: Request,
    response: Response,
    wait: float = Query(default=0, ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for the reply"),
) -> MessageAccepted:
    stored = await run_in_threadpool(_accept, body)
    accepted = MessageAccepted(
        message_id=stored.id, group_id=stored.group_id, duplicate=not stored.created
    )
    if wait > 0:
        accepted.reply = await wait_for_reply(
            request.app.state.redis, stored.group_id, stored.id, wait
        )
        if accepted.reply is not None:
            response.status_code = status.HTTP_200_OK
    return accepted


def _group_or_404(session, group_id: str) -> Group:  # type: ignore[no-untyped-def]
    group = session.get(Group, group_id)
    if group is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown group {group_id!r}")
    return group


@api.get("/groups", response_model=GroupList)
def list_groups() -> GroupList:
    with read_session() as session:
        groups = session.scalars(select(Group).order_by(Group.created_at, Group.id))
        return GroupList(groups=[GroupOut.model_validate(g) for g in groups])


@api.patch("/groups/{group_id:group}", response_model=GroupOut, responses=NOT_FOUND_RESPONSES)
def patch_group(group_id: GroupId, body: GroupPatch) -> GroupOut:
    with write_session() as session:
        group = _group_or_404(session, group_id)
        changes = body.model_dump(exclude_none=True)
        for key in ("timezone", "web"):  # kept in the settings document
            if key in changes:
                # a new dict, so SQLAlchemy sees the JSON column change
                group.settings = {**(group.settings or {}), key: changes.pop(key)}
        for field, value in changes.items():
            setattr(group, field, value)
        session.flush()
        return GroupOut.model_validate(group)


@api.get("/groups/{group_id:path}/messages", response_model=MessagePage, responses=NOT_FOUND_RESPONSES)
def list_messages(
    group_id: GroupId,
    after_id: int = Query(default=0, ge=0, le=MAX_ID),
    limit: int = Query(default=50, ge=1, le=500),
    newest: bool = Query(default=False, description="the newest `limit` messages after `after_id` "
                         "instead of the oldest (still oldest first): the recent history"),
) -> MessagePage:
    with read_session() as session:
        _group_or_404(session, group_id)
        rows = list(session.scalars(
            select(Message)
            .where(Message.group_id == group_id, Message.id > after_id)
            .order_by(Message.id.desc() if newest else Message.id)
            .limit(limit)
        ))
        if newest:
            rows.reverse()
        return MessagePage(messages=[MessageOut.model_validate(m) for m in rows])


@public.get("/healthz", response_model=Health,
            responses={503: {"model": Health, "description": "the database or Redis is down"}})
def healthz(response: Response) -> Health:
    try:
        with read_session() as session:
            session.execute(text("SELECT 1"))
        database = True
    except Exception:
        database = False
    try:
        client = get_redis()
        client.ping()
        workers, beat, redis_ok = alive_workers(client), beat_alive(client), True
    except Exception:
        workers, beat, redis_ok = [], False, False
    ok = database and redis_ok
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status="ok" if ok else "degraded", database=database, redis=redis_ok, workers=workers, beat=beat
    )

"""A group's set-aside messages: GET /v1/groups/{id}/failed, POST /v1/groups/{id}/failed/retry.

Messages a turn kept failing on are set aside (claw.pipeline.setaside) so the group is not
stuck; these routes show them and put them back, to be answered by the group's next turn.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, NOT_FOUND_RESPONSES
from claw.api.schemas import REQUEST_BODY, GroupId, UtcDatetime
from claw.db import Group, read_session, write_session
from claw.db.models import MAX_ID
from claw.pipeline.dispatch import enqueue_turn
from claw.pipeline.failures import clear_failures
from claw.pipeline.setaside import put_back, set_aside_messages
from claw.redis_client import get_redis

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)


class FailedMessage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sender: str
    text: str
    created_at: UtcDatetime
    set_aside_at: UtcDatetime
    set_aside_reason: str | None


class FailedList(BaseModel):
    group_id: str
    messages: list[FailedMessage]


class RetryIn(BaseModel):
    model_config = REQUEST_BODY

    #: which set-aside messages to put back; all of them when omitted
    message_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(default=None, max_length=10_000)


class RetryOut(BaseModel):
    group_id: str
    retried: list[int]  #: ids now pending again
    queued: bool  #: whether a turn was queued for them now (else the sweeper will)


def _require_group(session, group_id: str) -> Group:  # type: ignore[no-untyped-def]
    group = session.get(Group, group_id)
    if group is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown group {group_id!r}")
    return group


@router.get("/groups/{group_id:path}/failed", response_model=FailedList, responses=NOT_FOUND_RESPONSES)
def list_failed(group_id: GroupId) -> FailedList:
    with read_session() as session:
        _require_group(session, group_id)
        rows = set_aside_messages(session, group_id)
        return FailedList(group_id=group_id, messages=[FailedMessage.model_validate(m) for m in rows])


@router.post("/groups/{group_id:path}/failed/retry", response_model=RetryOut, responses=NOT_FOUND_RESPONSES)
def retry_failed(group_id: GroupId, body: RetryIn | None = None) -> RetryOut:
    ids = body.message_ids if body is not None else None
    with write_session() as session:
        priority = _require_group(session, group_id).priority
        retried = put_back(session, group_id, ids)
    queued = False
    if retried:
        try:
            # A fresh streak: the put-back batch gets its full attempts again.
            clear_failures(get_redis(), group_id)
        except Exception:  # Redis down: they are pending in the database; the sweeper queues them
            return RetryOut(group_id=group_id, retried=retried, queued=False)
        queued = enqueue_turn(group_id, priority=priority, force=True)
    return RetryOut(group_id=group_id, retried=retried, queued=queued)


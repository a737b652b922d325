"""Strangers need an invitation: GET /v1/pairings, POST /v1/pairings/{code}/approve,
POST /v1/groups/{id}/approve, POST /v1/groups/{id}/block.

A chat claw has never seen on Telegram or WhatsApp waits with a pairing code
(claw.pipeline.pairing); approving it lets a turn answer what it sent meanwhile.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, NOT_FOUND_RESPONSES, _documented
from claw.api.schemas import GroupId, UtcDatetime
from claw.db import read_session, write_session
from claw.pipeline import pairing
from claw.pipeline.dispatch import enqueue_turn

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)

Code = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 -]+$",
                           description="the pairing code the chat was sent")]
CODE_RESPONSES = {
    404: _documented("no chat waits with this code"),
    410: _documented("the code expired; the chat gets a new one when it writes again"),
}


class PairingOut(BaseModel):
    group_id: str
    code: str
    chat_name: str | None
    first_sender: str
    first_text: str  #: the chat's first message (its first 500 characters)
    created_at: UtcDatetime
    expires_at: UtcDatetime
    expired: bool


class PairingList(BaseModel):
    pairings: list[PairingOut]


class AccessOut(BaseModel):
    group_id: str
    access: str
    queued: bool = False  #: a turn was queued for the messages it sent while waiting
    set_aside: int = 0  #: messages it sent while waiting, now set aside (block)


@router.get("/pairings", response_model=PairingList)
def list_pairings() -> PairingList:
    with read_session() as session:
        rows = pairing.waiting(session)
        return PairingList(pairings=[
            PairingOut(group_id=row.group_id, code=row.code, chat_name=row.chat_name,
                       first_sender=row.first_sender, first_text=row.first_text,
                       created_at=row.created_at, expires_at=row.expires_at, expired=expired)
            for row, expired in rows
        ])


def _queued(approved: pairing.Approved) -> AccessOut:
    queued = enqueue_turn(approved.group_id, priority=approved.priority, force=True)
    return AccessOut(group_id=approved.group_id, access="approved", queued=queued)


@router.post("/pairings/{code}/approve", response_model=AccessOut, responses=CODE_RESPONSES)
def approve_code(code: Code) -> AccessOut:
    try:
        with write_session() as session:
            approved = pairing.approve_code(session, code)
    except pairing.UnknownCode:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no chat waits with code {code!r}") from None
    except pairing.ExpiredCode:
        raise HTTPException(status.HTTP_410_GONE, detail=(
            f"code {code!r} expired; the chat gets a new one when it writes again, or approve "
            "the group itself: POST /v1/groups/{id}/approve")) from None
    return _queued(approved)


@router.post("/groups/{group_id:path}/approve", response_model=AccessOut, responses=NOT_FOUND_RESPONSES)
def approve_group(group_id: GroupId) -> AccessOut:
    """Approve a chat without its code (a blocked one, or one whose code expired)."""
    try:
        with write_session() as session:
            approved = pairing.approve_group(session, group_id)
    except pairing.UnknownCode:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown group {group_id!r}") from None
    return _queued(approved)


@router.post("/groups/{group_id:path}/block", response_model=AccessOut, responses={
    **NOT_FOUND_RESPONSES, 409: _documented("only Telegram and WhatsApp chats can be blocked")})
def block_group(group_id: GroupId) -> AccessOut:
    """Refuse a Telegram or WhatsApp chat: its messages are dropped from now on."""
    try:
        with write_session() as session:
            set_aside = pairing.block_group(session, group_id)
    except pairing.UnknownCode:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown group {group_id!r}") from None
    except pairing.NotBlockable:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=(
            f"{group_id!r} is not a Telegram or WhatsApp chat: only those can be blocked")) from None
    return AccessOut(group_id=group_id, access="blocked", set_aside=set_aside)

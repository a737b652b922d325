"""Routes about the agent of a group: its personality and what it has cost."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, NOT_FOUND_RESPONSES
from claw.api.schemas import REQUEST_BODY, GroupId, Text, UtcDatetime
from claw.config import get_settings
from claw.db import Group, read_session
from claw.personality import (
    MAX_PERSONALITY_CHARS,
    load_personality,
    personality_source,
    previous_versions,
    save_personality,
)
from claw.usage import UsageTotals, all_totals, group_totals, recent_turns

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)


class PersonalityOut(BaseModel):
    group_id: str
    text: str
    source: str  #: "group", "workspace" or "default": which link of the fallback chain
    previous_versions: int


class PersonalityIn(BaseModel):
    model_config = REQUEST_BODY

    text: Text = Field(min_length=1, max_length=MAX_PERSONALITY_CHARS)


class UsageTurn(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    created_at: UtcDatetime


class GroupUsage(UsageTotals):
    recent: list[UsageTurn] = []


def _require_group(group_id: str) -> None:
    with read_session() as session:
        if session.get(Group, group_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown group {group_id!r}")


def _personality(group_id: str) -> PersonalityOut:
    workspace = get_settings().workspace
    return PersonalityOut(
        group_id=group_id,
        text=load_personality(workspace, group_id),
        source=personality_source(workspace, group_id),
        previous_versions=len(previous_versions(workspace, group_id)),
    )


@router.get("/groups/{group_id:path}/personality", response_model=PersonalityOut, responses=NOT_FOUND_RESPONSES)
def get_personality(group_id: GroupId) -> PersonalityOut:
    _require_group(group_id)
    return _personality(group_id)


@router.put("/groups/{group_id:path}/personality", response_model=PersonalityOut, responses=NOT_FOUND_RESPONSES)
def put_personality(group_id: GroupId, body: PersonalityIn) -> PersonalityOut:
    _require_group(group_id)
    save_personality(get_settings().workspace, group_id, body.text)
    return _personality(group_id)


@router.get("/groups/{group_id:path}/usage", response_model=GroupUsage, responses=NOT_FOUND_RESPONSES)
def get_group_usage(group_id: GroupId) -> GroupUsage:
    _require_group(group_id)
    with read_session() as session:
        totals = group_totals(session, group_id)
        recent = [UsageTurn.model_validate(u) for u in recent_turns(session, group_id)]
    return GroupUsage(**totals.model_dump(), recent=recent)


@router.get("/usage", response_model=list[GroupUsage])
def get_usage() -> list[GroupUsage]:
    with read_session() as session:
        return [GroupUsage(**t.model_dump()) for t in all_totals(session)]

"""Routes for schedules: GET|POST /v1/schedules, GET|PATCH|DELETE /v1/schedules/{id},
POST /v1/schedules/{id}/pause|resume.

The admin side of what the agent's scheduling tools do for one group; a bad spec is a 422
whose ``error`` lists the accepted forms.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES, NOT_FOUND_RESPONSES, error_response
from claw.api.schemas import NAME_PATTERN, REQUEST_BODY, RowId, Text, UtcDatetime
from claw.config import get_settings
from claw.db import read_session, write_session
from claw.db.models import Group, Schedule, utcnow
from claw.scheduler import (
    ACCEPTED_FORMS,
    ScheduleNotFound,
    SchedulerError,
    add_schedule,
    cancel_schedule,
    describe_schedule,
    get_schedule,
    group_timezone,
    is_paused,
    list_schedules,
    pause_schedule,
    paused_next_run,
    plan_schedule,
    resume_schedule,
    update_schedule,
)

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)


class ScheduleIn(BaseModel):
    model_config = REQUEST_BODY

    group_id: str = Field(min_length=3, max_length=255, pattern=NAME_PATTERN)
    kind: Literal["reminder", "agent_prompt", "summary"] = "reminder"
    spec: Text = Field(min_length=1, max_length=200, description=f"when: {ACCEPTED_FORMS}")
    text: Text = Field(default="", max_length=4000)
    timezone: str | None = Field(default=None, max_length=64, description="IANA name; the group's by default")


class SchedulePatch(BaseModel):
    model_config = REQUEST_BODY

    spec: Text | None = Field(default=None, min_length=1, max_length=200)
    text: Text | None = Field(default=None, max_length=4000)
    timezone: str | None = Field(default=None, max_length=64)


class ScheduleOut(BaseModel):
    id: int
    group_id: str
    kind: str
    spec: str
    timezone: str
    text: str
    description: str  #: the schedule in words, with its next run in its timezone
    next_run: UtcDatetime | None  #: null once finished or cancelled, and while paused
    enabled: bool  #: false once finished or cancelled
    paused: bool = False  #: paused (still enabled); `paused_next_run` is when it was due
    paused_next_run: UtcDatetime | None = None
    cancelled: bool = False  #: cancelled (not enabled), rather than finished
    created_by: str
    created_at: UtcDatetime
    last_run: UtcDatetime | None
    run_count: int

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleOut:
        return cls(
            id=schedule.id, group_id=schedule.group_id, kind=schedule.kind, spec=schedule.spec,
            timezone=schedule.timezone, text=str(schedule.payload.get("text", "")),
            description=describe_schedule(schedule, utcnow()), next_run=schedule.next_run,
            enabled=schedule.enabled, paused=is_paused(schedule),
            paused_next_run=paused_next_run(schedule) if is_paused(schedule) else None,
            cancelled=bool(not schedule.enabled and schedule.payload.get("cancelled_at")),
            created_by=schedule.created_by, created_at=schedule.created_at,
            last_run=schedule.last_run, run_count=schedule.run_count,
        )


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


def _unprocessable(exc: SchedulerError) -> JSONResponse:
    return error_response(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc))


def _not_found(exc: ScheduleNotFound) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))


def _unknown_group(group_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown group {group_id!r}")


@router.get("/schedules", response_model=ScheduleList, responses=NOT_FOUND_RESPONSES)
def get_schedules(
    group_id: str | None = Query(default=None, max_length=255, pattern=NAME_PATTERN,
                                 description="one group's schedules; all when omitted"),
    include_inactive: bool = Query(default=False, description="finished and cancelled ones too"),
) -> ScheduleList:
    with read_session() as session:
        if group_id is not None and session.get(Group, group_id) is None:
            raise _unknown_group(group_id)
        rows = list_schedules(session, group_id, include_inactive=include_inactive)
        return ScheduleList(schedules=[ScheduleOut.of(s) for s in rows])


@router.post("/schedules", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut,
             responses=NOT_FOUND_RESPONSES)
def post_schedule(body: ScheduleIn) -> ScheduleOut | JSONResponse:
    settings = get_settings()
    now = utcnow()
    try:
        # read and parse first: the write lock is taken only to store what is already understood
        with read_session() as session:
            if session.get(Group, body.group_id) is None:
                raise _unknown_group(body.group_id)
            tz_name = body.timezone or group_timezone(session, body.group_id, settings.tz)
        plan = plan_schedule(kind=body.kind, spec=body.spec, text=body.text, timezone_name=tz_name, now=now,
                             min_interval=settings.schedule_min_gap)
        with write_session() as session:
            schedule = add_schedule(session, plan, group_id=body.group_id, created_by="api", now=now,
                                    max_per_group=settings.max_schedules_per_group)
            return ScheduleOut.of(schedule)
    except SchedulerError as exc:
        return _unprocessable(exc)


@router.get("/schedules/{schedule_id}", response_model=ScheduleOut, responses=NOT_FOUND_RESPONSES)
def get_one_schedule(schedule_id: RowId) -> ScheduleOut:
    try:
        with read_session() as session:
            return ScheduleOut.of(get_schedule(session, schedule_id))
    except ScheduleNotFound as exc:
        raise _not_found(exc) from None


@router.patch("/schedules/{schedule_id}", response_model=ScheduleOut, responses=NOT_FOUND_RESPONSES)
def patch_schedule(schedule_id: RowId, body: SchedulePatch) -> ScheduleOut | JSONResponse:
    try:
        with write_session() as session:
            schedule = update_schedule(session, schedule_id, now=utcnow(), spec=body.spec, text=body.text,
                                       timezone_name=body.timezone,
                                       min_interval=get_settings().schedule_min_gap)
            return ScheduleOut.of(schedule)
    except ScheduleNotFound as exc:
        raise _not_found(exc) from None
    except SchedulerError as exc:
        return _unprocessable(exc)


@router.delete("/schedules/{schedule_id}", response_model=ScheduleOut, responses=NOT_FOUND_RESPONSES)
def delete_schedule(schedule_id: RowId) -> ScheduleOut:
    """Cancel a schedule (it stays listed with include_inactive, with its runs)."""
    try:
        with write_session() as session:
            return ScheduleOut.of(cancel_schedule(session, schedule_id, now=utcnow()))
    except ScheduleNotFound as exc:
        raise _not_found(exc) from None


@router.post("/schedules/{schedule_id}/pause", response_model=ScheduleOut, responses=NOT_FOUND_RESPONSES)
def post_pause(schedule_id: RowId) -> ScheduleOut | JSONResponse:
    """Stop a schedule from firing until it is resumed (pausing a paused one changes nothing);
    a 422 for one that is finished or cancelled."""
    try:
        with write_session() as session:
            return ScheduleOut.of(pause_schedule(session, schedule_id, now=utcnow()))
    except ScheduleNotFound as exc:
        raise _not_found(exc) from None
    except SchedulerError as exc:
        return _unprocessable(exc)


@router.post("/schedules/{schedule_id}/resume", response_model=ScheduleOut, responses=NOT_FOUND_RESPONSES)
def post_resume(schedule_id: RowId) -> ScheduleOut | JSONResponse:
    """Let a paused schedule fire again: a repeating one from its next run after now (runs
    missed while paused are skipped), a one-off whose time passed at once."""
    try:
        with write_session() as session:
            return ScheduleOut.of(resume_schedule(session, schedule_id, now=utcnow()))
    except ScheduleNotFound as exc:
        raise _not_found(exc) from None
    except SchedulerError as exc:
        return _unprocessable(exc)

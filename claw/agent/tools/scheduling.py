"""Scheduling tools: schedule_task, list_tasks, cancel_task, update_task.

The group is the turn's (ToolContext): a group sees and changes only its own schedules, and
another group's schedule id looks exactly like one that does not exist. A change is journaled
in its own transaction (journal_result), so a redone turn never makes it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Optional

from pydantic import Field

from claw.agent.tools.registry import ToolContext, ToolError, journal_result, tool
from claw.db import read_session, write_session
from claw.db.models import MAX_ID, Schedule, ScheduleKind, utcnow
from claw.scheduler import (
    ACCEPTED_FORMS,
    SchedulerError,
    cancel_schedule,
    create_schedule,
    describe_schedule,
    group_timezone,
    list_schedules,
    local_when,
    parse_spec,
    update_schedule,
)
from claw.scheduler.specs import zone

SPEC_HELP = f"when: {ACCEPTED_FORMS}"
TaskId = Annotated[int, Field(ge=1, le=MAX_ID, description="the task's number, as list_tasks shows it (#3 is 3)")]


def confirmation(schedule: Schedule, now: datetime) -> str:
    """What the user reads back: "Reminder #3 set for 14:05 (Europe/Berlin): call mum"."""
    spec = parse_spec(schedule.spec, now=now, tz=zone(schedule.timezone))
    assert schedule.next_run is not None
    first = local_when(schedule.next_run, schedule.timezone, now)
    when = f"{spec.describe()}, first {first}" if spec.repeats else f"for {first}"
    text = schedule.payload.get("text", "")
    if schedule.kind == ScheduleKind.REMINDER:
        return f"Reminder #{schedule.id} set {when} ({schedule.timezone}): {text}"
    if schedule.kind == ScheduleKind.SUMMARY:
        return f"Summary #{schedule.id} scheduled {when} ({schedule.timezone})" + (f": {text}" if text else ".")
    return f"Task #{schedule.id} scheduled {when} ({schedule.timezone}): {text}"


@tool
def schedule_task(
    ctx: ToolContext,
    kind: Annotated[
        Literal["reminder", "agent_prompt", "summary"],
        Field(description="reminder: send `text` at the time; agent_prompt: at the time you get `text` "
                          "as a message and act on it; summary: summarize the recent conversation"),
    ],
    spec: Annotated[str, Field(min_length=1, max_length=200, description=SPEC_HELP)],
    text: Annotated[str, Field(max_length=4000, description="the reminder, or the request to act on")] = "",
    timezone: Annotated[Optional[str], Field(description="IANA timezone; the group's when omitted")] = None,
) -> str:
    """Schedule a reminder, a recurring request, or a conversation summary for this group."""
    now = utcnow()
    url = ctx.settings.resolved_database_url
    try:
        with write_session(url) as session:
            schedule = create_schedule(
                session, group_id=ctx.group_id, kind=kind, spec=spec, text=text,
                timezone_name=timezone or group_timezone(session, ctx.group_id, ctx.settings.tz),
                created_by="agent", now=now, max_per_group=ctx.settings.max_schedules_per_group,
                min_interval=ctx.settings.schedule_min_gap,
            )
            return journal_result(ctx, session, confirmation(schedule, now))
    except SchedulerError as exc:
        raise ToolError(str(exc)) from None


@tool
def list_tasks(ctx: ToolContext) -> str:
    """List this group's scheduled tasks and reminders, soonest first, with their numbers."""
    now = utcnow()
    with read_session(ctx.settings.resolved_database_url) as session:
        schedules = list_schedules(session, ctx.group_id)
        lines = [describe_schedule(s, now) for s in schedules]
    if not lines:
        return "There are no scheduled tasks or reminders in this group."
    return "Scheduled in this group:\n" + "\n".join(lines)


@tool
def cancel_task(ctx: ToolContext, task_id: TaskId) -> str:
    """Cancel one of this group's scheduled tasks or reminders for good."""
    now = utcnow()
    try:
        with write_session(ctx.settings.resolved_database_url) as session:
            schedule = cancel_schedule(session, task_id, group_id=ctx.group_id, now=now)
            return journal_result(ctx, session, f"Cancelled {describe_schedule(schedule, now)}")
    except SchedulerError as exc:
        raise ToolError(str(exc)) from None


@tool
def update_task(
    ctx: ToolContext,
    task_id: TaskId,
    spec: Annotated[Optional[str], Field(max_length=200, description=f"the new time; {SPEC_HELP}")] = None,
    text: Annotated[Optional[str], Field(max_length=4000, description="the new reminder or request")] = None,
    timezone: Annotated[Optional[str], Field(description="a new IANA timezone")] = None,
) -> str:
    """Change when (spec, timezone) or what (text) one of this group's scheduled tasks does,
    e.g. move the Monday one to Tuesday with spec "weekly TUE 09:00"."""
    if spec is None and text is None and timezone is None:
        raise ToolError("nothing to change: give a new spec, text or timezone")
    now = utcnow()
    try:
        with write_session(ctx.settings.resolved_database_url) as session:
            schedule = update_schedule(session, task_id, group_id=ctx.group_id, now=now,
                                       spec=spec, text=text, timezone_name=timezone,
                                       min_interval=ctx.settings.schedule_min_gap)
            return journal_result(ctx, session, f"Updated {describe_schedule(schedule, now)}")
    except SchedulerError as exc:
        raise ToolError(str(exc)) from None

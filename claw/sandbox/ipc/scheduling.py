"""The schedule_task action: sandboxed code schedules a reminder or a prompt for its own group.

The same service call as the schedule_task tool (claw.scheduler.create_schedule): the group is
the requesting one, never named by the request, and the per-group schedule cap applies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from claw.db import write_session
from claw.db.models import utcnow
from claw.sandbox.ipc.actions import ActionContext, ActionError, register
from claw.scheduler import SchedulerError, create_schedule, group_timezone


class ScheduleTaskArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["reminder", "agent_prompt", "summary"]
    spec: str = Field(min_length=1, max_length=200)  #: "in 10 minutes", "daily 09:00", ...
    text: str = Field(default="", max_length=4000)
    timezone: str | None = Field(default=None, max_length=64)


def schedule_task(ctx: ActionContext, args: ScheduleTaskArgs) -> dict[str, Any]:
    group_id = ctx.identity.group_id
    now = utcnow()
    try:
        with write_session() as session:
            schedule = create_schedule(
                session, group_id=group_id, kind=args.kind, spec=args.spec, text=args.text,
                timezone_name=args.timezone or group_timezone(session, group_id, ctx.settings.tz),
                created_by="sandbox", now=now, max_per_group=ctx.settings.max_schedules_per_group,
            )
            next_run = schedule.next_run.isoformat() if schedule.next_run else None
            result = {"schedule_id": schedule.id, "next_run": next_run}
            if ctx.journal is not None:  # with the schedule: a redone run never makes a second
                ctx.journal.record(session, result)
            return result
    except SchedulerError as exc:
        raise ActionError(str(exc)) from None


register("schedule_task", ScheduleTaskArgs, schedule_task, priority=30)

"""The schedule_task action: sandboxed code schedules a reminder or a prompt for its own group.

The same service calls as the schedule_task tool (claw.scheduler.plan_schedule, add_schedule):
the group is the requesting one, never named by the request, and the per-group schedule cap
applies. Code gets stricter rules than people (see claw/sandbox/ipc/policy.py): a schedule that
starts a turn needs the group's ``code_agent_prompts`` policy, since that turn may run the code
again; and every schedule code makes respects the minimum interval.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from claw.db import read_session, write_session
from claw.db.models import ScheduleKind, utcnow
from claw.sandbox.ipc.actions import ActionContext, ActionError, register
from claw.sandbox.ipc.policy import ActionDenied
from claw.scheduler import SchedulerError, add_schedule, group_timezone, plan_schedule
from claw.scheduler.service import in_words

#: kinds whose runs start a turn of the agent
TURN_KINDS = frozenset({ScheduleKind.AGENT_PROMPT, ScheduleKind.SUMMARY})
WHO = "sandboxed code"


class ScheduleTaskArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["reminder", "agent_prompt", "summary"]
    spec: str = Field(min_length=1, max_length=200)  #: "in 10 minutes", "daily 09:00", ...
    text: str = Field(default="", max_length=4000)
    timezone: str | None = Field(default=None, max_length=64)


def schedule_task(ctx: ActionContext, args: ScheduleTaskArgs) -> dict[str, Any]:
    group_id = ctx.identity.group_id
    if args.kind in TURN_KINDS and not ctx.policy.code_agent_prompts:
        raise ActionDenied(
            f"code may not schedule a {args.kind} in group {group_id}: it would start a turn nobody "
            "asked for; schedule a reminder, or ask the group to allow it "
            "(groups.settings['sandbox']['code_agent_prompts'] = true)"
        )
    # the group's policy for code may be looser than the sandbox default, never than claw's own
    min_interval = max(
        timedelta(minutes=ctx.policy.schedule_min_minutes or ctx.settings.sandbox_schedule_min_minutes),
        ctx.settings.schedule_min_interval,
    )
    now = utcnow()
    try:
        with read_session() as session:
            tz_name = args.timezone or group_timezone(session, group_id, ctx.settings.tz)
        plan = plan_schedule(kind=args.kind, spec=args.spec, text=args.text, timezone_name=tz_name,
                             now=now, min_interval=min_interval, who=WHO)
        # one-offs that each schedule the next would loop as fast as a repeating schedule
        if plan.kind in TURN_KINDS and plan.first_run - now < min_interval:
            raise ActionError(
                f"{WHO} may schedule a {plan.kind.value} no sooner than {in_words(min_interval)} "
                "from now: choose a later time"
            )
        with write_session() as session:
            schedule = add_schedule(session, plan, group_id=group_id, created_by="sandbox", now=now,
                                    max_per_group=ctx.settings.max_schedules_per_group)
            next_run = schedule.next_run.isoformat() if schedule.next_run else None
            result = {"schedule_id": schedule.id, "next_run": next_run}
            if ctx.journal is not None:  # with the schedule: a redone run never makes a second
                ctx.journal.record(session, result)
            return result
    except SchedulerError as exc:
        raise ActionError(str(exc)) from None


register("schedule_task", ScheduleTaskArgs, schedule_task, priority=30)

"""The task scheduler: schedules a group asks for, and the tick that fires them when due.

    specs.py     what a spec may say, and when each run falls due (DST-correct, pure)
    service.py   create / list / update / cancel, scoped to a group; a request is planned
                 (parsed, timed, checked against the minimum interval) before any transaction
    pausing.py   pause / resume: a paused schedule is one that is never due
    tick.py      find due runs, claim each with a compare-and-set, fire, dispatch

Errors are in errors.py: SchedulerError > SpecError | ScheduleNotFound | ScheduleRefused.
"""

from claw.scheduler.errors import ScheduleNotFound, ScheduleRefused, SchedulerError, SpecError
from claw.scheduler.pausing import is_paused, pause_schedule, paused_next_run, resume_schedule
from claw.scheduler.service import (
    SchedulePlan,
    add_schedule,
    cancel_schedule,
    create_schedule,
    describe_schedule,
    get_schedule,
    group_timezone,
    list_schedules,
    local_when,
    plan_schedule,
    update_schedule,
)
from claw.scheduler.specs import ACCEPTED_FORMS, Spec, parse_spec
from claw.scheduler.tick import FiredRun, claim_run, dispatch, due_runs, fire_due

__all__ = [
    "ACCEPTED_FORMS",
    "FiredRun",
    "ScheduleNotFound",
    "SchedulePlan",
    "ScheduleRefused",
    "SchedulerError",
    "Spec",
    "SpecError",
    "add_schedule",
    "cancel_schedule",
    "claim_run",
    "create_schedule",
    "describe_schedule",
    "dispatch",
    "due_runs",
    "fire_due",
    "get_schedule",
    "is_paused",
    "pause_schedule",
    "paused_next_run",
    "resume_schedule",
    "group_timezone",
    "list_schedules",
    "local_when",
    "parse_spec",
    "plan_schedule",
    "update_schedule",
]

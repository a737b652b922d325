"""Pausing and resuming a schedule.

A paused schedule keeps ``enabled`` (it still counts as one of its group's schedules, and it
is not finished) but has no ``next_run``, so the tick's due scan, a compare-and-set on
``next_run``, can never claim it; the due time it had is kept in its payload. No column and
no change to the tick: a paused schedule is simply one that is never due.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from claw.db.models import Schedule
from claw.scheduler.errors import ScheduleRefused, SpecError
from claw.scheduler.service import as_utc, get_schedule
from claw.scheduler.specs import parse_spec, zone

PAUSED_AT = "paused_at"
#: the due time the schedule had when it was paused
PAUSED_NEXT_RUN = "paused_next_run"


def is_paused(schedule: Schedule) -> bool:
    return bool(schedule.enabled and schedule.payload.get(PAUSED_AT))


def pause_schedule(session: Session, schedule_id: int, *, now: datetime,
                   group_id: str | None = None) -> Schedule:
    """Stop a schedule from firing until it is resumed; pausing twice is harmless."""
    schedule = get_schedule(session, schedule_id, group_id)
    if not schedule.enabled:
        raise ScheduleRefused(f"schedule #{schedule_id} is finished or cancelled; there is nothing to pause")
    if not is_paused(schedule) and schedule.next_run is not None:
        schedule.payload = {**schedule.payload, PAUSED_AT: now.isoformat(),
                            PAUSED_NEXT_RUN: as_utc(schedule.next_run).isoformat()}
        schedule.next_run = None
        session.flush()
    return schedule


def resume_schedule(session: Session, schedule_id: int, *, now: datetime,
                    group_id: str | None = None) -> Schedule:
    """Let a paused schedule fire again. A repeating one goes on from its next run after
    ``now`` (what it missed while paused is skipped); a one-off whose time passed fires now."""
    schedule = get_schedule(session, schedule_id, group_id)
    if not schedule.enabled:
        raise ScheduleRefused(f"schedule #{schedule_id} is finished or cancelled; create a new one")
    if not is_paused(schedule):
        return schedule
    payload = dict(schedule.payload)
    payload.pop(PAUSED_AT, None)
    due = datetime.fromisoformat(payload.pop(PAUSED_NEXT_RUN))
    if due < now:
        try:
            tz = zone(schedule.timezone)
            spec = parse_spec(schedule.spec, now=now, tz=tz)
            if spec.repeats:
                due = spec.first_run(now, tz)
        except SpecError:
            pass  # a row broken by hand: fire at once, as after downtime
    schedule.payload, schedule.next_run = payload, due
    session.flush()
    return schedule


def paused_next_run(schedule: Schedule) -> datetime | None:
    """When a paused schedule would have run next."""
    stored = schedule.payload.get(PAUSED_NEXT_RUN)
    return datetime.fromisoformat(stored) if stored else None

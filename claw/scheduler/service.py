"""Creating, listing, changing and cancelling schedules.

Every function takes the session and, where it matters, ``now``; given a ``group_id`` it only
sees that group's schedules, so a group can never read or change another's (the agent's tools
always pass the group of the turn; the admin API and CLI may pass None).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from claw.db.models import Group, Schedule, ScheduleKind
from claw.scheduler.errors import ScheduleNotFound, ScheduleRefused, SpecError
from claw.scheduler.specs import Spec, parse_spec, zone

UTC = timezone.utc
MAX_TEXT = 4000
KIND_WORDS = {
    ScheduleKind.REMINDER: "reminder",
    ScheduleKind.AGENT_PROMPT: "prompt",
    ScheduleKind.SUMMARY: "summary",
}


def as_utc(moment: datetime) -> datetime:
    """Database datetimes as aware UTC (SQLite hands them back naive; we only store UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def group_timezone(session: Session, group_id: str, default: str) -> str:
    """The group's own timezone (its settings' "timezone"), else CLAW_TZ."""
    settings = session.scalar(select(Group.settings).where(Group.id == group_id)) or {}
    return str(settings.get("timezone") or default)


def _kind(kind: str) -> ScheduleKind:
    try:
        return ScheduleKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in ScheduleKind)
        raise ScheduleRefused(f"unknown kind {kind!r}; use one of: {kinds}") from None


def _text(kind: ScheduleKind, text: str | None) -> str:
    text = (text or "").strip()
    if not text and kind != ScheduleKind.SUMMARY:
        what = "what to remind of" if kind == ScheduleKind.REMINDER else "what to ask the assistant"
        raise ScheduleRefused(f"a {kind.value} needs a text: {what}")
    if len(text) > MAX_TEXT:
        raise ScheduleRefused(f"the text is {len(text)} characters; the limit is {MAX_TEXT}")
    return text


def create_schedule(
    session: Session,
    *,
    group_id: str,
    kind: str,
    spec: str,
    text: str | None,
    timezone_name: str,
    created_by: str,
    now: datetime,
    max_per_group: int = 100,
) -> Schedule:
    """Add a schedule to the group; raises SpecError or ScheduleRefused with what to fix."""
    schedule_kind = _kind(kind)
    body = _text(schedule_kind, text)
    tz = zone(timezone_name)
    parsed = parse_spec(spec, now=now, tz=tz)
    first = parsed.first_run(now, tz)
    if session.get(Group, group_id) is None:
        raise ScheduleRefused(f"unknown group {group_id!r}")
    active = session.scalar(
        select(func.count()).where(Schedule.group_id == group_id, Schedule.enabled == true())
    )
    if (active or 0) >= max_per_group:
        raise ScheduleRefused(
            f"this group already has {active} active schedules, the limit; cancel one first"
        )
    schedule = Schedule(
        group_id=group_id,
        kind=schedule_kind.value,
        spec=parsed.text,
        timezone=timezone_name,
        next_run=first,
        enabled=True,
        created_by=created_by[:255],
        created_at=now,
        run_count=0,
        payload={"text": body, "request": spec.strip()[:500]},
    )
    session.add(schedule)
    session.flush()
    return schedule


def list_schedules(
    session: Session, group_id: str | None = None, *, include_inactive: bool = False
) -> list[Schedule]:
    """Schedules soonest first (of one group, or all); finished and cancelled ones on request."""
    query = select(Schedule)
    if group_id is not None:
        query = query.where(Schedule.group_id == group_id)
    if not include_inactive:
        query = query.where(Schedule.enabled == true())
    query = query.order_by(Schedule.next_run.is_(None), Schedule.next_run, Schedule.id)
    return list(session.scalars(query))


def get_schedule(session: Session, schedule_id: int, group_id: str | None = None) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    # Another group's schedule is reported exactly like a missing one: nothing leaks.
    if schedule is None or (group_id is not None and schedule.group_id != group_id):
        where = "in this group" if group_id is not None else "at all"
        raise ScheduleNotFound(f"there is no schedule #{schedule_id} {where}; list them to see the ids")
    return schedule


def cancel_schedule(
    session: Session, schedule_id: int, *, now: datetime, group_id: str | None = None
) -> Schedule:
    """Stop a schedule for good (it stays in the run log); cancelling twice is harmless."""
    schedule = get_schedule(session, schedule_id, group_id)
    if schedule.enabled:
        schedule.payload = {**schedule.payload, "cancelled_at": now.isoformat()}
    schedule.enabled = False
    schedule.next_run = None
    session.flush()
    return schedule


def update_schedule(
    session: Session,
    schedule_id: int,
    *,
    now: datetime,
    group_id: str | None = None,
    spec: str | None = None,
    text: str | None = None,
    timezone_name: str | None = None,
) -> Schedule:
    """Change when (spec, timezone) or what (text) an active schedule does.

    A new spec or timezone restarts the cadence from ``now``; a new text alone keeps it.
    """
    schedule = get_schedule(session, schedule_id, group_id)
    if not schedule.enabled:
        raise ScheduleRefused(f"schedule #{schedule_id} is finished or cancelled; create a new one")
    if text is not None:
        schedule.payload = {**schedule.payload, "text": _text(ScheduleKind(schedule.kind), text)}
    if spec is not None or timezone_name is not None:
        tz = zone(timezone_name or schedule.timezone)
        parsed = parse_spec(spec if spec is not None else schedule.spec, now=now, tz=tz)
        schedule.next_run = parsed.first_run(now, tz)
        schedule.spec = parsed.text
        schedule.timezone = timezone_name or schedule.timezone
        if spec is not None:
            schedule.payload = {**schedule.payload, "request": spec.strip()[:500]}
    session.flush()
    return schedule


# ---- in words ---------------------------------------------------------------------------


def local_when(moment: datetime, tz_name: str, now: datetime) -> str:
    """A time as a person in that timezone says it: "14:05", "tomorrow 09:00", "Mon 30 Mar 09:00"."""
    try:
        tz: tzinfo = zone(tz_name)
    except SpecError:
        tz = UTC
    local, today = as_utc(moment).astimezone(tz), now.astimezone(tz).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return clock
    if local.date() == today + timedelta(days=1):
        return f"tomorrow {clock}"
    year = f" {local.year}" if local.year != today.year else ""
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b')}{year} {clock}"


def describe_schedule(schedule: Schedule, now: datetime) -> str:
    """One line about a schedule, for the agent and the CLI (even one broken by hand in the database)."""
    try:
        spec: Spec | None = parse_spec(schedule.spec, now=now, tz=zone(schedule.timezone))
    except SpecError:
        spec = None
    kind = KIND_WORDS.get(ScheduleKind(schedule.kind), schedule.kind)
    if schedule.next_run is None:
        state = "cancelled" if schedule.payload.get("cancelled_at") else "finished"
        when = f"{spec.describe() if spec else schedule.spec} ({state})"
    elif spec is None or spec.repeats:
        words = spec.describe() if spec else schedule.spec
        when = f"{words}, next {local_when(schedule.next_run, schedule.timezone, now)}"
    else:
        when = local_when(schedule.next_run, schedule.timezone, now)
    text = schedule.payload.get("text") or "(the recent conversation)"
    return f"#{schedule.id} {kind}, {when} ({schedule.timezone}): {text}"

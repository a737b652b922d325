"""Creating, listing, changing and cancelling schedules.

Every function takes the session and, where it matters, ``now``; given a ``group_id`` it only
sees that group's schedules, so a group can never read or change another's (the agent's tools
always pass the group of the turn; the admin API and CLI may pass None).

What a chat member or sandboxed code wrote is parsed and timed *before* the session first
touches the database (plan_schedule, then add_schedule): a write session on SQLite holds the
whole database's write lock from its first statement, and nothing a user typed may run while
every other group waits. group_timezone reads on a read-only session of its own for the same
reason, so ``write_session() -> group_timezone -> create_schedule`` parses with no lock held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from claw.db.models import Group, Schedule, ScheduleKind
from claw.faults import fault_point
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


def _reader(session: Session) -> Session:
    """A read-only session on ``session``'s database: reading through it takes no write lock."""
    return Session(session.get_bind().execution_options(claw_readonly=True), expire_on_commit=False)


def group_timezone(session: Session, group_id: str, default: str) -> str:
    """The group's own timezone (its settings' "timezone"), else CLAW_TZ."""
    with _reader(session) as reader:
        settings = reader.scalar(select(Group.settings).where(Group.id == group_id)) or {}
    return str(settings.get("timezone") or default)


def in_words(span: timedelta) -> str:
    """A duration as people say it: "1 minute", "90 minutes", "2 hours", "3 days"."""
    minutes = int(span.total_seconds() // 60)
    for size, unit in ((24 * 60, "day"), (60, "hour"), (1, "minute")):
        if minutes >= size and minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(span.total_seconds())} seconds"


def check_min_interval(spec: Spec, min_interval: timedelta | None, *, who: str | None = None) -> None:
    """The minimum-interval rule: a repeating schedule's runs are at least ``min_interval`` apart.

    Every path that makes or changes a schedule's timing passes the configured minimum
    (CLAW_SCHEDULE_MIN_INTERVAL; sandboxed code a stricter one). It guards what is asked from
    now on: schedules stored before it (or before it was raised) keep running as they are,
    since stopping them unasked would drop reminders people rely on; changing one's spec must
    meet it. None (or a zero interval) turns the rule off.
    """
    gap = spec.shortest_gap()
    if not min_interval or gap is None or gap >= min_interval:
        return
    whose = f"schedules made by {who}" if who else "a repeating schedule"
    raise ScheduleRefused(
        f"{spec.describe()!r} runs as often as every {in_words(gap)}; {whose} may run at most "
        f"every {in_words(min_interval)}: choose a longer interval, like 'every {in_words(min_interval)}'"
    )


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """A request understood and timed, before any database work: what add_schedule stores."""

    kind: ScheduleKind
    text: str
    spec: Spec
    request: str  #: what was asked, as written (cut to 500 characters)
    timezone: str
    first_run: datetime


def plan_schedule(
    *,
    kind: str,
    spec: str,
    text: str | None,
    timezone_name: str,
    now: datetime,
    min_interval: timedelta | None = None,
    who: str | None = None,
) -> SchedulePlan:
    """Parse and time a request (raises SpecError or ScheduleRefused); touches no database."""
    schedule_kind = _kind(kind)
    body = _text(schedule_kind, text)
    tz = zone(timezone_name)
    fault_point("scheduler.parse")  # tests: a slow parse, to show it holds no lock
    parsed = parse_spec(spec, now=now, tz=tz)
    first = parsed.first_run(now, tz)
    check_min_interval(parsed, min_interval, who=who)
    return SchedulePlan(schedule_kind, body, parsed, spec.strip()[:500], timezone_name, first)


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
    min_interval: timedelta | None = None,
) -> Schedule:
    """Add a schedule to the group; raises SpecError or ScheduleRefused with what to fix.

    The request is planned before ``session`` is first used (see the module docstring).
    """
    plan = plan_schedule(kind=kind, spec=spec, text=text, timezone_name=timezone_name, now=now,
                         min_interval=min_interval)
    return add_schedule(session, plan, group_id=group_id, created_by=created_by, now=now,
                        max_per_group=max_per_group)


def add_schedule(
    session: Session,
    plan: SchedulePlan,
    *,
    group_id: str,
    created_by: str,
    now: datetime,
    max_per_group: int = 100,
) -> Schedule:
    """Store a planned schedule, if the group exists and is under its cap of active schedules."""
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
        kind=plan.kind.value,
        spec=plan.spec.text,
        timezone=plan.timezone,
        next_run=plan.first_run,
        enabled=True,
        created_by=created_by[:255],
        created_at=now,
        run_count=0,
        payload={"text": plan.text, "request": plan.request},
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
    min_interval: timedelta | None = None,
) -> Schedule:
    """Change when (spec, timezone) or what (text) an active schedule does.

    A new spec or timezone restarts the cadence from ``now``; a new text alone keeps it. A new
    spec must meet ``min_interval``; a new text or timezone alone does not make an older
    schedule that runs more often meet it first (see check_min_interval). The
    new timing is worked out before ``session`` is first used, from the row as a read-only
    session sees it; should the row change in between, it is worked out again.
    """
    timed: _Timing | None = None
    if spec is not None and timezone_name is not None:
        timed = _retime(spec, timezone_name, now)
    elif spec is not None or timezone_name is not None:
        with _reader(session) as reader:
            current = reader.get(Schedule, schedule_id)
            # another group's row is left to get_schedule, which says it does not exist
            if current is not None and current.enabled and group_id in (None, current.group_id):
                given = spec if spec is not None else current.spec
                timed = _retime(given, timezone_name or current.timezone, now)
    schedule = get_schedule(session, schedule_id, group_id)
    if not schedule.enabled:
        raise ScheduleRefused(f"schedule #{schedule_id} is finished or cancelled; create a new one")
    if text is not None:
        schedule.payload = {**schedule.payload, "text": _text(ScheduleKind(schedule.kind), text)}
    if spec is not None or timezone_name is not None:
        wanted = (spec if spec is not None else schedule.spec, timezone_name or schedule.timezone)
        if timed is None or (timed.request, timed.timezone) != wanted:
            timed = _retime(*wanted, now)
        if spec is not None:
            check_min_interval(timed.spec, min_interval)
        schedule.spec, schedule.timezone = timed.spec.text, timed.timezone
        if schedule.payload.get("paused_at"):  # stays paused, due then once resumed (pausing.py)
            schedule.payload = {**schedule.payload, "paused_next_run": timed.first_run.isoformat()}
        else:
            schedule.next_run = timed.first_run
        if spec is not None:
            schedule.payload = {**schedule.payload, "request": spec.strip()[:500]}
    session.flush()
    return schedule


@dataclass(frozen=True, slots=True)
class _Timing:
    request: str
    timezone: str
    spec: Spec
    first_run: datetime


def _retime(spec: str, timezone_name: str, now: datetime) -> _Timing:
    tz = zone(timezone_name)
    fault_point("scheduler.parse")
    parsed = parse_spec(spec, now=now, tz=tz)
    return _Timing(spec, timezone_name, parsed, parsed.first_run(now, tz))


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
    if schedule.enabled and schedule.payload.get("paused_at"):
        when = f"{spec.describe() if spec else schedule.spec} (paused)"
    elif schedule.next_run is None:
        state = "cancelled" if schedule.payload.get("cancelled_at") else "finished"
        when = f"{spec.describe() if spec else schedule.spec} ({state})"
    elif spec is None or spec.repeats:
        words = spec.describe() if spec else schedule.spec
        when = f"{words}, next {local_when(schedule.next_run, schedule.timezone, now)}"
    else:
        when = local_when(schedule.next_run, schedule.timezone, now)
    text = schedule.payload.get("text") or "(the recent conversation)"
    return f"#{schedule.id} {kind}, {when} ({schedule.timezone}): {text}"

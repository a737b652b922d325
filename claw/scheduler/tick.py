"""The tick: find due runs, claim each with a compare-and-set, fire it, then hand it on.

A run is claimed by moving the schedule's ``next_run`` from the due time it was read with to
the following one, in a transaction that also writes what the run produces (the reminder's
message and outbox row, or the injected user message) and its run-log row, unique on
(schedule, due time). Two beats, or two overlapping ticks, therefore never fire one run twice:
the loser's UPDATE matches no row. What happens after the commit (delivering the reminder,
queueing the turn) is best effort, like everywhere else: the sweeper re-sends unsent outbox
rows and re-queues groups with pending messages.

The run after the claimed one is worked out from the spec before the write transaction opens
(fire_due reads each due schedule's spec and timezone with its due time); only if the row changed in
between is it worked out again inside.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from claw.db import read_session, write_session
from claw.db.models import Group, Schedule, ScheduleKind, ScheduleRun
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.outbox import write_reply
from claw.scheduler.errors import SpecError
from claw.scheduler.service import as_utc, local_when
from claw.scheduler.specs import parse_spec, zone

log = logging.getLogger(__name__)

#: the user name a prompt or summary is injected under, as the agent sees it
SCHEDULER_SENDER = "scheduler"
#: a reminder fired later than this (after downtime) says when it was due
LATE_AFTER = timedelta(minutes=5)
SUMMARY_PROMPT = (
    "Please summarize the recent conversation in this group: the main topics, what was decided, "
    "and what is still open."
)


@dataclass(frozen=True, slots=True)
class FiredRun:
    """A claimed and committed run; ``dispatch`` delivers or queues what it produced."""

    schedule_id: int
    group_id: str
    kind: str
    due_at: datetime
    channel: str
    priority: bool
    outbox_id: int | None = None  #: a reminder to deliver
    message_id: int | None = None  #: an injected user message whose turn to queue


def _due(session: Session, now: datetime, limit: int) -> list[tuple[int, datetime, str, str]]:
    """(schedule id, due time, spec, timezone) of every enabled schedule due at ``now``, oldest first."""
    rows = session.execute(
        select(Schedule.id, Schedule.next_run, Schedule.spec, Schedule.timezone)
        .where(Schedule.enabled == true(), Schedule.next_run <= now)
        .order_by(Schedule.next_run)
        .limit(limit)
    )
    return [(schedule_id, as_utc(next_run), spec, tz_name) for schedule_id, next_run, spec, tz_name in rows]


def due_runs(session: Session, now: datetime, limit: int) -> list[tuple[int, datetime]]:
    """(schedule id, due time) of every enabled schedule due at ``now``, oldest first."""
    return [(schedule_id, due_at) for schedule_id, due_at, _, _ in _due(session, now, limit)]


def reminder_text(text: str, due_at: datetime, now: datetime, tz_name: str) -> str:
    if now - due_at > LATE_AFTER:
        return f"Reminder (due {local_when(due_at, tz_name, now)}): {text}"
    return f"Reminder: {text}"


def prompt_text(schedule: Schedule) -> str:
    text = str(schedule.payload.get("text") or "")
    if schedule.kind == ScheduleKind.SUMMARY:
        return f"{SUMMARY_PROMPT} Focus on: {text}" if text else SUMMARY_PROMPT
    return text


@dataclass(frozen=True, slots=True)
class Following:
    """The run after a due one, worked out from ``spec`` and ``timezone`` as read."""

    spec: str
    timezone: str
    next_run: datetime | None


def following_run(schedule_id: int, spec: str, tz_name: str, due_at: datetime, now: datetime) -> Following:
    try:
        tz = zone(tz_name)
        return Following(spec, tz_name, parse_spec(spec, now=now, tz=tz).next_run(due_at, now, tz))
    except SpecError as exc:
        # Only a hand-edited row can get here; it fires this once and then stops.
        log.error("schedule_spec_broken schedule=%s error=%s", schedule_id, exc)
        return Following(spec, tz_name, None)


def claim_run(
    session: Session, schedule_id: int, due_at: datetime, now: datetime, following: Following | None = None
) -> FiredRun | None:
    """Claim the run of ``schedule_id`` due at ``due_at`` and write what it produces.

    ``following``, worked out before the transaction, is used if the row still has its spec
    and timezone. Returns None when the run is no longer there to claim: another tick fired
    it, or the schedule was changed or cancelled since it was read.
    """
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        return None
    if following is None or (following.spec, following.timezone) != (schedule.spec, schedule.timezone):
        following = following_run(schedule_id, schedule.spec, schedule.timezone, due_at, now)
    next_run = following.next_run
    claimed = session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.enabled == true(), Schedule.next_run == due_at)
        .values(
            next_run=next_run,
            enabled=next_run is not None,
            last_run=now,
            run_count=Schedule.run_count + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return None
    group = session.get(Group, schedule.group_id)
    assert group is not None
    run = ScheduleRun(schedule_id=schedule_id, group_id=group.id, due_at=due_at, fired_at=now)
    if schedule.kind == ScheduleKind.REMINDER:
        text = reminder_text(str(schedule.payload.get("text") or ""), due_at, now, schedule.timezone)
        outbox = write_reply(session, group_id=group.id, channel=group.channel,
                             chat_id=group.chat_id, text=text)
        run.outbox_id = outbox.id
    else:
        # The external id makes a re-fired run (should one ever get past the claim) store once.
        # A scheduled prompt is addressed to claw by definition: in a group chat that answers
        # only when addressed it would otherwise be stored as context and never run.
        external_id = f"schedule:{schedule_id}:{due_at.isoformat()}"
        stored = store_message(
            session,
            IncomingMessage(group.channel, group.chat_id, SCHEDULER_SENDER, prompt_text(schedule),
                            external_id, mentions_bot=True),
        )
        run.message_id = stored.id if stored.created else None
    session.add(run)
    session.flush()  # the unique (schedule, due) row: a second guard behind the claim
    return FiredRun(schedule_id, group.id, schedule.kind, due_at, group.channel, bool(group.priority),
                    outbox_id=run.outbox_id, message_id=run.message_id)


def fire_due(now: datetime, *, limit: int, database_url: str | None = None) -> list[FiredRun]:
    """Claim and commit every run due at ``now`` (at most ``limit``), one transaction each."""
    with read_session(database_url) as session:
        due = _due(session, now, limit)
    fired = []
    for schedule_id, due_at, spec, tz_name in due:
        try:
            following = following_run(schedule_id, spec, tz_name, due_at, now)
            with write_session(database_url) as session:
                run = claim_run(session, schedule_id, due_at, now, following)
        except IntegrityError:
            run = None  # the run log already has it: another tick won
        except Exception:
            log.exception("schedule_fire_failed schedule=%s due=%s", schedule_id, due_at.isoformat())
            continue
        if run is not None:
            log.info("schedule_fired schedule=%s group=%s kind=%s due=%s", run.schedule_id,
                     run.group_id, run.kind, due_at.isoformat())
            fired.append(run)
    return fired


def dispatch(run: FiredRun) -> None:
    """Deliver a reminder (inline for pull channels, like a turn's reply) or queue the turn."""
    from claw.pipeline.delivery import send_reply
    from claw.pipeline.dispatch import enqueue_turn

    if run.outbox_id is not None:
        send_reply(run.group_id, run.outbox_id, run.channel)
    elif run.message_id is not None:
        enqueue_turn(run.group_id, priority=run.priority)

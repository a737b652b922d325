"""The tick: due runs are claimed once, fire what their kind says, and move on.

Real SQLite throughout; the concurrency test runs two tick loops in two processes against
one database file, as two beats would.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from claw.db import Group, Message, Outbox, read_session, write_session
from claw.db.models import Schedule, ScheduleRun
from claw.scheduler import cancel_schedule, claim_run, create_schedule, due_runs, fire_due, update_schedule
from claw.scheduler.tick import LATE_AFTER, SCHEDULER_SENDER, SUMMARY_PROMPT, following_run, reminder_text
from tests.scheduler.conftest import T0

UTC = timezone.utc
MINUTE = timedelta(minutes=1)


def create(db: str, spec: str, text: str = "stretch", *, kind: str = "reminder",
           group: str = "http:team", now: datetime = T0) -> int:
    with write_session(db) as session:
        return create_schedule(session, group_id=group, kind=kind, spec=spec, text=text,
                               timezone_name="Europe/Berlin", created_by="test", now=now).id


def schedule(db: str, schedule_id: int) -> Schedule:
    with read_session(db) as session:
        row = session.get(Schedule, schedule_id)
        assert row is not None
        return row


def count(db: str, model: type) -> int:
    with read_session(db) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def test_a_reminder_fires_once_when_due_into_the_outbox_and_history(db: str) -> None:
    # Given "in 1 minute" created at T0
    schedule_id = create(db, "in 1 minute", "stand up and stretch")
    # When ticks run before, at and after the due time
    early = fire_due(T0 + timedelta(seconds=30), limit=100, database_url=db)
    [fired] = fire_due(T0 + MINUTE + timedelta(seconds=2), limit=100, database_url=db)
    late = fire_due(T0 + 2 * MINUTE, limit=100, database_url=db)
    # Then it fired exactly once, at the tick after it was due
    assert early == [] and late == []
    assert (fired.schedule_id, fired.group_id, fired.kind, fired.due_at) == (
        schedule_id, "http:team", "reminder", T0 + MINUTE)
    # And the reminder is an assistant chat message with its outbox row (an HTTP group's
    # clients read it from the database, so it is delivered as it is committed)
    with read_session(db) as session:
        outbox = session.get(Outbox, fired.outbox_id)
        assert outbox is not None and (outbox.group_id, outbox.status, outbox.text) == (
            "http:team", "sent", "Reminder: stand up and stretch")
        message = session.get(Message, outbox.message_id)
        assert message is not None
        assert (message.role, message.kind, message.sender, message.text) == (
            "assistant", "chat", "claw", "Reminder: stand up and stretch")
        [run] = session.scalars(select(ScheduleRun)).all()
        assert (run.schedule_id, aware(run.due_at), run.outbox_id) == (schedule_id, T0 + MINUTE, outbox.id)
    # And the once schedule is finished
    row = schedule(db, schedule_id)
    assert (row.enabled, row.next_run, row.run_count) == (False, None, 1)


def test_an_agent_prompt_injects_a_user_message_once_and_moves_to_the_next_day(db: str) -> None:
    schedule_id = create(db, "daily 09:30", "what is on the agenda today?", kind="agent_prompt")
    due = T0 + timedelta(minutes=30)  # 09:30 Berlin

    [fired] = fire_due(due, limit=100, database_url=db)

    with read_session(db) as session:
        message = session.get(Message, fired.message_id)
        assert message is not None
        assert (message.role, message.sender, message.text, message.answered_by) == (
            "user", SCHEDULER_SENDER, "what is on the agenda today?", None)
        assert message.external_id == f"schedule:{schedule_id}:{due.isoformat()}"
    assert fired.outbox_id is None
    row = schedule(db, schedule_id)
    assert aware(row.next_run) == due + timedelta(days=1) and row.enabled and row.run_count == 1


def test_a_summary_asks_for_a_summary_of_the_conversation(db: str) -> None:
    create(db, "daily 18:00", "", kind="summary")
    create(db, "daily 18:00", "the budget", kind="summary", group="http:other")

    fired = fire_due(T0 + timedelta(hours=9), limit=100, database_url=db)

    with read_session(db) as session:
        texts = {run.group_id: session.get(Message, run.message_id).text for run in fired}  # type: ignore[union-attr]
    assert texts == {"http:team": SUMMARY_PROMPT, "http:other": f"{SUMMARY_PROMPT} Focus on: the budget"}


def test_a_run_is_claimed_once_even_by_two_ticks_that_read_it(db: str) -> None:
    schedule_id = create(db, "every 5 minutes")
    now = T0 + 5 * MINUTE
    # Given two ticks that both read the same due run
    with read_session(db) as session:
        first_read = due_runs(session, now, 10)
        second_read = due_runs(session, now, 10)
    assert first_read == second_read == [(schedule_id, now)]
    # When both try to claim it
    with write_session(db) as session:
        winner = claim_run(session, schedule_id, now, now)
    with write_session(db) as session:
        loser = claim_run(session, schedule_id, now, now + timedelta(seconds=1))
    # Then only the first one fires
    assert winner is not None and loser is None
    assert count(db, ScheduleRun) == count(db, Outbox) == 1


def test_a_run_read_before_the_schedule_changed_is_not_fired(db: str) -> None:
    changed = create(db, "every 5 minutes")
    cancelled = create(db, "every 5 minutes")
    now = T0 + 5 * MINUTE
    with read_session(db) as session:
        due = due_runs(session, now, 10)
    with write_session(db) as session:
        update_schedule(session, changed, now=now, spec="daily 12:00")
        cancel_schedule(session, cancelled, now=now)
    for schedule_id, due_at in due:
        with write_session(db) as session:
            assert claim_run(session, schedule_id, due_at, now) is None
    assert count(db, ScheduleRun) == 0


def test_after_downtime_a_schedule_fires_once_then_resumes_on_its_cadence(db: str) -> None:
    # Given an hourly reminder first due at 10:00 (T0 + 1 h), and the system down until 15:20
    schedule_id = create(db, "every 1 hour", "drink water")
    back = T0 + timedelta(hours=5, minutes=20)
    # When the first tick after the downtime runs, and the ones after it
    fired = [fire_due(back + k * MINUTE, limit=100, database_url=db) for k in range(45)]
    # Then it fired once for the five missed hours, then once more on the hour
    assert [len(f) for f in fired].count(1) == 2 and sum(len(f) for f in fired) == 2
    assert [f[0].due_at for f in fired if f] == [T0 + timedelta(hours=1), T0 + timedelta(hours=6)]
    # And the late reminder says when it was due
    with read_session(db) as session:
        texts = list(session.scalars(select(Outbox.text).order_by(Outbox.id)))
    assert texts == ["Reminder (due 10:00): drink water", "Reminder: drink water"]
    assert schedule(db, schedule_id).run_count == 2


def test_a_tick_fires_at_most_its_batch_and_the_next_tick_the_rest(db: str) -> None:
    for _ in range(5):
        create(db, "in 1 minute")
    assert len(fire_due(T0 + MINUTE, limit=3, database_url=db)) == 3
    assert len(fire_due(T0 + MINUTE, limit=3, database_url=db)) == 2
    assert count(db, Outbox) == 5


def test_a_schedule_broken_by_hand_fires_once_and_stops_instead_of_failing_every_tick(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    schedule_id = create(db, "every 5 minutes")
    claimed = create(db, "every 5 minutes")
    with write_session(db) as session:
        for broken in (schedule_id, claimed):
            row = session.get(Schedule, broken)
            assert row is not None
            row.spec = "every fortnight-ish"
    with write_session(db) as session:  # (claimed straight away: claim_run reads the spec itself)
        assert claim_run(session, claimed, T0 + 5 * MINUTE, T0 + 5 * MINUTE) is not None
    assert len(fire_due(T0 + 5 * MINUTE, limit=10, database_url=db)) == 1
    assert fire_due(T0 + 60 * MINUTE, limit=10, database_url=db) == []
    row = schedule(db, schedule_id)
    assert (row.enabled, row.next_run, row.run_count) == (False, None, 1)
    # And the operator reads once per schedule which one is broken and why
    broken_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("schedule_spec_broken")]
    assert [line.split(" error=")[0] for line in broken_lines] == [
        f"schedule_spec_broken schedule={claimed}", f"schedule_spec_broken schedule={schedule_id}"]
    assert all("cannot understand the schedule 'every fortnight-ish'" in line for line in broken_lines)


def test_a_fired_run_says_where_it_goes_and_the_schedule_and_its_log_say_when_it_fired(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claw")
    # Given a reminder of a priority group
    schedule_id = create(db, "every 5 minutes", "water the plants")
    with write_session(db) as session:
        session.execute(update(Group).where(Group.id == "http:team").values(priority=True))
    # When it fires, a little after its due time
    due, now = T0 + 5 * MINUTE, T0 + 5 * MINUTE + timedelta(seconds=3)
    [fired] = fire_due(now, limit=10, database_url=db)
    # Then what it hands on is delivered on the group's channel, ahead of other groups
    assert (fired.channel, fired.priority) == ("http", True)
    # And the schedule and its run log say when it fired; the operator's log says what fired
    row = schedule(db, schedule_id)
    assert aware(row.last_run) == now
    with read_session(db) as session:
        [run] = session.scalars(select(ScheduleRun)).all()
        assert aware(run.fired_at) == now
    assert (f"schedule_fired schedule={schedule_id} group=http:team kind=reminder due={due.isoformat()}"
            in [r.getMessage() for r in caplog.records])


def test_due_runs_fire_oldest_first_when_a_tick_cannot_fire_them_all(db: str) -> None:
    later = create(db, "in 3 minutes")
    sooner = create(db, "in 1 minute")
    with read_session(db) as session:
        assert due_runs(session, T0 + 5 * MINUTE, 1) == [(sooner, T0 + MINUTE)]
    [first] = fire_due(T0 + 5 * MINUTE, limit=1, database_url=db)
    [second] = fire_due(T0 + 5 * MINUTE, limit=1, database_url=db)
    assert (first.schedule_id, second.schedule_id) == (sooner, later)


def test_a_late_reminder_says_when_it_was_due_only_when_more_than_five_minutes_late() -> None:
    due = T0 + timedelta(hours=1)  # 10:00 in Berlin
    assert reminder_text("tea", due, due + LATE_AFTER, "Europe/Berlin") == "Reminder: tea"
    assert reminder_text("tea", due, due + LATE_AFTER + timedelta(seconds=1), "Europe/Berlin") == (
        "Reminder (due 10:00): tea")


def test_a_schedule_switched_off_by_hand_is_not_fired(db: str) -> None:
    # Given a schedule switched off in the database by hand, its next run left in place
    schedule_id = create(db, "every 5 minutes")
    with write_session(db) as session:
        session.execute(update(Schedule).where(Schedule.id == schedule_id).values(enabled=False))
    # Then no tick fires it, nor claims it from an earlier read
    assert fire_due(T0 + 10 * MINUTE, limit=10, database_url=db) == []
    with write_session(db) as session:
        assert claim_run(session, schedule_id, T0 + 5 * MINUTE, T0 + 10 * MINUTE) is None
    assert count(db, ScheduleRun) == 0


def test_the_run_after_a_claimed_one_follows_the_spec_the_row_has_at_the_claim(db: str) -> None:
    # Given the following run worked out from "every 5 minutes", then the spec edited by hand
    schedule_id = create(db, "every 5 minutes")
    due = now = T0 + 5 * MINUTE
    read_earlier = following_run(schedule_id, "every 5 minutes", "Europe/Berlin", due, now)
    with write_session(db) as session:
        session.execute(update(Schedule).where(Schedule.id == schedule_id).values(spec="every 1 hour"))
    # When the run is claimed with what was worked out before
    with write_session(db) as session:
        assert claim_run(session, schedule_id, due, now, read_earlier) is not None
    # Then the next run is an hour on, as the row now says
    assert aware(schedule(db, schedule_id).next_run) == due + timedelta(hours=1)


def test_a_run_already_in_the_run_log_is_not_fired_again_and_the_tick_goes_on(db: str) -> None:
    # Given a reminder that fired, and its next_run then set back to that run by hand (a restore)
    schedule_id = create(db, "every 5 minutes", "stretch")
    due = T0 + 5 * MINUTE
    assert len(fire_due(due, limit=10, database_url=db)) == 1
    with write_session(db) as session:
        session.execute(update(Schedule).where(Schedule.id == schedule_id).values(next_run=due))
    # When a tick finds it due again
    fired = fire_due(due + MINUTE, limit=10, database_url=db)
    # Then the run log refuses it: nothing fires twice, and the tick ends normally
    assert fired == [] and count(db, Outbox) == count(db, ScheduleRun) == 1


def test_a_row_broken_beyond_reading_fails_alone_and_the_tick_fires_the_rest(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a schedule whose payload was broken by hand, due before a sound one
    broken = create(db, "in 1 minute")
    sound = create(db, "in 2 minutes", "still here")
    with write_session(db) as session:
        session.execute(update(Schedule).where(Schedule.id == broken).values(payload=["not", "a", "dict"]))
    # When a tick finds both due
    fired = fire_due(T0 + 3 * MINUTE, limit=10, database_url=db)
    # Then the sound one fires, and the broken one is logged with its id and due time
    assert [run.schedule_id for run in fired] == [sound]
    assert (f"schedule_fire_failed schedule={broken} due={(T0 + MINUTE).isoformat()}"
            in [r.getMessage() for r in caplog.records])


# ---- two tick loops against one database --------------------------------------------------

SCHEDULES = 50
SECONDS = 10
REAL_SECONDS_PER_MINUTE = 1.5  #: the loops' clock runs fast: one schedule minute per 1.5 s


def tick_loop(database_url: str, started: float, seconds: float) -> int:
    """A beat with a fast clock: tick every 50 ms for ``seconds``; count fired runs.

    The clock runs from ``started`` (shared by both loops), the ticking for ``seconds`` from
    when this process is ready: on a loaded machine spawning it can take most of the window."""
    fired = 0
    until = time.time() + seconds
    while time.time() < until:
        now = T0 + MINUTE * ((time.time() - started) / REAL_SECONDS_PER_MINUTE)
        fired += len(fire_due(now, limit=500, database_url=database_url))
        time.sleep(0.05)
    return fired


def next_minute_after(moment: datetime) -> datetime:
    minutes = (moment - T0) // MINUTE
    return T0 + MINUTE * (minutes + 1)


def test_two_concurrent_tick_loops_fire_every_due_run_exactly_once(db: str) -> None:
    # Given 50 schedules due every minute
    ids = [create(db, "every 1 minute", f"ping {n}") for n in range(SCHEDULES)]
    # When two tick loops in two processes (two beats) run against the database for 15 s
    started = time.time()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        fired_by = pool.starmap(tick_loop, [(db, started, SECONDS)] * 2)
    # Then every run they fired is in the run log once, with one reminder each
    runs = count(db, ScheduleRun)
    assert sum(fired_by) == runs == count(db, Outbox) == count(db, Message)
    assert runs >= SCHEDULES * 3, fired_by
    with read_session(db) as session:
        for schedule_id in ids:
            log = session.execute(
                select(ScheduleRun.due_at, ScheduleRun.fired_at)
                .where(ScheduleRun.schedule_id == schedule_id).order_by(ScheduleRun.due_at)
            ).all()
            row = session.get(Schedule, schedule_id)
            assert row is not None and row.run_count == len(log)
            # And no due run was skipped: each run's due time is the one its predecessor set
            expected = T0 + MINUTE
            for due_at, fired_at in log:
                assert aware(due_at) == expected
                expected = next_minute_after(aware(fired_at))  # type: ignore[arg-type]
            assert aware(row.next_run) == expected


def test_an_agent_prompt_in_a_group_chat_answered_on_mention_still_starts_a_turn(db: str) -> None:
    # Given a Telegram group chat that answers only when addressed (the default for groups)
    from claw.db import Group
    from claw.pipeline.inbox import IncomingMessage, store_message

    with write_session(db) as session:
        store_message(session, IncomingMessage("telegram", "-1009", "alice", "hi all", private=False))
    with write_session(db) as session:
        group = session.get(Group, "telegram:-1009")
        assert group is not None
        group.respond = "mention"
    # And scheduled prompts whose text names no trigger word
    create(db, "daily 09:30", "what is on the agenda today?", kind="agent_prompt", group="telegram:-1009")
    create(db, "daily 09:30", "", kind="summary", group="telegram:-1009")

    # When they fire
    fired = fire_due(T0 + timedelta(minutes=30), limit=100, database_url=db)

    # Then each injected message addresses claw, so its turn runs and its result is delivered
    assert len(fired) == 2
    with read_session(db) as session:
        for run in fired:
            message = session.get(Message, run.message_id)
            assert message is not None and message.addressed is True

"""Creating, listing, changing and cancelling schedules, on a real SQLite database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from claw.config import get_settings
from claw.db import read_session, write_session
from claw.db.models import Schedule
from claw.faults import reset_fault_points
from claw.pipeline.inbox import ensure_group
from claw.scheduler import (
    ScheduleNotFound,
    ScheduleRefused,
    SpecError,
    cancel_schedule,
    create_schedule,
    describe_schedule,
    fire_due,
    group_timezone,
    list_schedules,
    update_schedule,
)
from tests.scheduler.conftest import T0

BERLIN = "Europe/Berlin"


def create(db: str, spec: str, text: str = "water the plants", *, group: str = "http:team",
           kind: str = "reminder", tz: str = BERLIN, **extra: object) -> Schedule:
    with write_session(db) as session:
        return create_schedule(session, group_id=group, kind=kind, spec=spec, text=text,
                               timezone_name=tz, created_by="test", now=T0, **extra)  # type: ignore[arg-type]


def test_a_created_schedule_keeps_its_spec_text_and_first_run(db: str) -> None:
    # When a group asks for a weekly prompt
    made = create(db, "every monday at 9:00", "post the standup", kind="agent_prompt")
    # Then it is stored normalised, with its first run and the original request
    with read_session(db) as session:
        row = session.get(Schedule, made.id)
        assert row is not None
        assert (row.group_id, row.kind, row.spec, row.timezone, row.enabled, row.run_count) == (
            "http:team", "agent_prompt", "weekly MON 09:00", BERLIN, True, 0)
        assert row.next_run.replace(tzinfo=T0.tzinfo) == T0 + timedelta(days=7)  # type: ignore[union-attr]
        assert row.payload == {"text": "post the standup", "request": "every monday at 9:00"}
        assert describe_schedule(row, T0) == (
            f"#{row.id} prompt, every Monday at 09:00, next Mon 9 Mar 09:00 (Europe/Berlin): post the standup")


def test_bad_requests_are_refused_with_what_to_do(db: str) -> None:
    with pytest.raises(SpecError, match="accepted forms"):
        create(db, "sometime soon")
    with pytest.raises(ScheduleRefused, match="unknown kind 'nag'; use one of: reminder, agent_prompt, summary"):
        create(db, "in 5 minutes", kind="nag")
    with pytest.raises(ScheduleRefused, match="needs a text"):
        create(db, "in 5 minutes", "  ")
    with pytest.raises(SpecError, match="unknown timezone"):
        create(db, "in 5 minutes", tz="Berlin")
    with pytest.raises(ScheduleRefused, match="unknown group"):
        create(db, "in 5 minutes", group="http:nobody")
    # a summary needs no text
    assert create(db, "daily 18:00", "", kind="summary").payload["text"] == ""
    with read_session(db) as session:
        assert len(list_schedules(session)) == 1


def test_a_group_has_a_limit_of_active_schedules(db: str) -> None:
    for n in range(3):
        create(db, f"in {n + 1} minutes", max_per_group=3)
    with pytest.raises(ScheduleRefused, match="already has 3 active schedules"):
        create(db, "in 9 minutes", max_per_group=3)
    # other groups are not affected
    create(db, "in 9 minutes", group="http:other", max_per_group=3)


def test_a_group_sees_and_changes_only_its_own_schedules(db: str) -> None:
    mine = create(db, "daily 09:00")
    theirs = create(db, "daily 10:00", "their secret", group="http:other")
    with write_session(db) as session:
        assert [s.id for s in list_schedules(session, "http:team")] == [mine.id]
        assert {s.id for s in list_schedules(session)} == {mine.id, theirs.id}
        # another group's schedule looks exactly like a missing one
        for attempt in (
            lambda: cancel_schedule(session, theirs.id, group_id="http:team", now=T0),
            lambda: update_schedule(session, theirs.id, group_id="http:team", now=T0, text="mine now"),
        ):
            with pytest.raises(ScheduleNotFound, match=f"no schedule #{theirs.id} in this group"):
                attempt()
    with read_session(db) as session:
        row = session.get(Schedule, theirs.id)
        assert row is not None and row.enabled and row.payload["text"] == "their secret"


def test_update_moves_a_schedule_and_keeps_its_text(db: str) -> None:
    made = create(db, "weekly MON 09:00", "standup")
    # When "the Monday one" is moved to Tuesday
    with write_session(db) as session:
        update_schedule(session, made.id, group_id="http:team", now=T0, spec="weekly TUE 09:00")
    with read_session(db) as session:
        row = session.get(Schedule, made.id)
        assert row is not None
        assert (row.spec, row.payload["text"]) == ("weekly TUE 09:00", "standup")
        assert row.next_run.replace(tzinfo=T0.tzinfo) == T0 + timedelta(days=1)  # type: ignore[union-attr]
    # And a new text alone keeps the time
    with write_session(db) as session:
        update_schedule(session, made.id, now=T0, text="standup, bring coffee")
    with read_session(db) as session:
        row = session.get(Schedule, made.id)
        assert row is not None and row.payload["text"] == "standup, bring coffee"
        assert row.next_run.replace(tzinfo=T0.tzinfo) == T0 + timedelta(days=1)  # type: ignore[union-attr]


def test_a_bad_update_changes_nothing(db: str) -> None:
    made = create(db, "weekly MON 09:00", "standup")
    with pytest.raises(SpecError):
        with write_session(db) as session:
            update_schedule(session, made.id, now=T0, spec="on the blue moon", text="changed")
    with read_session(db) as session:
        row = session.get(Schedule, made.id)
        assert row is not None and (row.spec, row.payload["text"]) == ("weekly MON 09:00", "standup")


# ---- the minimum interval ---------------------------------------------------------------

FIVE_MINUTES = timedelta(minutes=5)


#: specs whose runs come closer than 5 minutes, and the closest two runs of each
TOO_OFTEN = [("* * * * *", "1 minute"), ("*/2 * * * *", "2 minutes"), ("every 1m", "1 minute"),
             ("every 4 minutes", "4 minutes"), ("0,3 9 * * *", "3 minutes"), ("*/2 9 * * MON", "2 minutes")]


def test_a_spec_whose_runs_come_closer_than_the_minimum_is_refused(db: str) -> None:
    # one database for all the specs: a database per case costs more than the cases
    for spec, gap in TOO_OFTEN:
        with pytest.raises(ScheduleRefused) as refused:
            create(db, spec, min_interval=FIVE_MINUTES)
        assert f"runs as often as every {gap}; a repeating schedule may run at most every 5 minutes" in str(
            refused.value), spec
        assert str(refused.value).endswith("choose a longer interval, like 'every 5 minutes'")
    with read_session(db) as session:
        assert list_schedules(session) == []


def test_a_spec_at_or_above_the_minimum_and_any_one_off_is_made(db: str) -> None:
    for spec in ["every 5 minutes", "*/5 * * * *", "hourly", "every morning at 8", "in 1 minute", "0,30 9 * * *"]:
        assert create(db, spec, min_interval=FIVE_MINUTES).enabled, spec


def test_moving_a_schedule_must_meet_the_minimum_and_leaves_it_as_it_was(db: str) -> None:
    made = create(db, "daily 09:00", min_interval=FIVE_MINUTES)
    with pytest.raises(ScheduleRefused, match="may run at most every 5 minutes"):
        with write_session(db) as session:
            update_schedule(session, made.id, now=T0, spec="*/2 * * * *", text="spam",
                            min_interval=FIVE_MINUTES)
    with read_session(db) as session:
        row = session.get(Schedule, made.id)
        assert row is not None and (row.spec, row.payload["text"]) == ("daily 09:00", "water the plants")


def test_a_schedule_stored_before_the_minimum_keeps_running_and_keeps_its_text_edits(db: str) -> None:
    # Given a schedule every minute, stored when no minimum applied (or a lower one)
    old = create(db, "every 1 minute", "stretch")
    # Then it still fires on its cadence: it is not stopped behind the owner's back
    fired = fire_due(T0 + timedelta(minutes=1, seconds=5), limit=10, database_url=db)
    assert [run.schedule_id for run in fired] == [old.id]
    with read_session(db) as session:
        row = session.get(Schedule, old.id)
        assert row is not None and row.next_run.replace(tzinfo=T0.tzinfo) == T0 + timedelta(minutes=2)  # type: ignore[union-attr]
    # And its text and timezone may change; only a new spec must meet the minimum
    with write_session(db) as session:
        update_schedule(session, old.id, now=T0, text="stretch more", timezone_name="UTC",
                        min_interval=FIVE_MINUTES)
    with pytest.raises(ScheduleRefused):
        with write_session(db) as session:
            update_schedule(session, old.id, now=T0, spec="every 2 minutes", min_interval=FIVE_MINUTES)


def test_cancel_stops_a_schedule_and_it_cannot_be_updated_after(db: str) -> None:
    made = create(db, "daily 09:00")
    with write_session(db) as session:
        cancel_schedule(session, made.id, group_id="http:team", now=T0)
        cancel_schedule(session, made.id, group_id="http:team", now=T0)  # twice is harmless
    with write_session(db) as session:
        row = session.get(Schedule, made.id)
        assert row is not None and (row.enabled, row.next_run) == (False, None)
        assert describe_schedule(row, T0).endswith("daily at 09:00 (cancelled) (Europe/Berlin): water the plants")
        assert list_schedules(session, "http:team") == []
        assert [s.id for s in list_schedules(session, "http:team", include_inactive=True)] == [made.id]
        with pytest.raises(ScheduleRefused, match="finished or cancelled"):
            update_schedule(session, made.id, now=T0, spec="daily 10:00")


def test_describe_says_when_in_the_schedules_timezone(db: str) -> None:
    soon = create(db, "in 5 minutes", "tea")
    later = create(db, "tomorrow at 7am", "run", tz="America/New_York")
    assert describe_schedule(soon, T0) == f"#{soon.id} reminder, 09:05 (Europe/Berlin): tea"
    assert describe_schedule(later, T0) == f"#{later.id} reminder, tomorrow 07:00 (America/New_York): run"


def test_a_schedule_broken_by_hand_in_the_database_is_still_described(db: str) -> None:
    made = create(db, "daily 09:00")
    with write_session(db) as session:
        row = session.get(Schedule, made.id)
        assert row is not None
        row.spec, row.timezone = "whenever", "Nowhere/Land"
    with read_session(db) as session:
        row = session.get(Schedule, made.id)
        assert row is not None
        assert describe_schedule(row, T0) == f"#{made.id} reminder, whenever, next tomorrow 08:00 (Nowhere/Land): water the plants"


# ---- parsing holds no lock --------------------------------------------------------------


@pytest.fixture
def slow_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[threading.Event]:
    """Every spec parse pauses 3 s (a fault point); the event is set when one has started."""
    started = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "name=scheduler.parse" in record.getMessage():
                started.set()

    monkeypatch.setenv("CLAW_HOME", str(tmp_path))
    monkeypatch.setenv("CLAW_FAULT_POINTS", "scheduler.parse:sleep-3")
    get_settings.cache_clear()
    reset_fault_points()
    watch = Watch()
    logging.getLogger("claw.faults").addHandler(watch)
    yield started
    logging.getLogger("claw.faults").removeHandler(watch)
    get_settings.cache_clear()
    reset_fault_points()


def _another_writer_commits(db: str) -> float:
    """Seconds another group's write takes (it would wait for a held write lock)."""
    began = time.perf_counter()
    with write_session(db) as session:
        ensure_group(session, "http", "bystander")
    return time.perf_counter() - began


@pytest.mark.parametrize("change", ["create", "update"])
def test_a_slow_spec_never_holds_the_database_write_lock(db: str, slow_parse: threading.Event, change: str) -> None:
    made = create(db, "daily 09:00") if change == "create" else None
    slow_parse.clear()

    # Given a schedule being made or moved the way the agent's tools do it, whose parse takes 3 s
    def schedule() -> None:
        with write_session(db) as session:
            if made is None:
                tz = group_timezone(session, "http:team", "UTC")
                create_schedule(session, group_id="http:team", kind="reminder", spec="daily 10:00",
                                text="tea", timezone_name=tz, created_by="test", now=T0)
            else:
                update_schedule(session, made.id, group_id="http:team", now=T0, spec="daily 10:00")

    worker = threading.Thread(target=schedule)
    worker.start()
    try:
        assert slow_parse.wait(10), "the parse never started"
        # When another group writes while the spec is still being parsed
        waited = _another_writer_commits(db)
    finally:
        worker.join()
    # Then its write went through at once: the parse held no lock (it would have waited ~3 s)
    assert waited < 2.0, f"another writer waited {waited:.2f}s"
    with read_session(db) as session:
        assert [s.spec for s in list_schedules(session, "http:team")] == ["daily 10:00"]

"""A paused schedule never fires; resumed, a repeating one goes on from its next run after now
(what it missed while paused is skipped) and a one-off whose time passed fires at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from claw.db import write_session
from claw.scheduler import (
    ScheduleRefused,
    cancel_schedule,
    fire_due,
    pause_schedule,
    resume_schedule,
    update_schedule,
)
from tests.scheduler.conftest import T0
from tests.scheduler.test_tick import aware, create, schedule

MINUTE = timedelta(minutes=1)


def test_a_paused_schedule_does_not_fire_and_resumed_skips_what_it_missed(db: str) -> None:
    # Given a schedule every 10 minutes, paused before its first run
    schedule_id = create(db, "every 10 minutes")
    with write_session(db) as session:
        pause_schedule(session, schedule_id, now=T0 + MINUTE)

    # When ticks run through the hour it is paused
    fired = [fire_due(T0 + k * MINUTE, limit=10, database_url=db) for k in range(2, 60)]

    # Then nothing fires; resumed at T0+60, it runs next at T0+70, not at once
    assert all(batch == [] for batch in fired)
    with write_session(db) as session:
        resume_schedule(session, schedule_id, now=T0 + 60 * MINUTE)
    assert aware(schedule(db, schedule_id).next_run) == T0 + 70 * MINUTE
    assert fire_due(T0 + 65 * MINUTE, limit=10, database_url=db) == []
    assert len(fire_due(T0 + 70 * MINUTE, limit=10, database_url=db)) == 1


def test_a_one_off_whose_time_passed_while_paused_fires_on_resume(db: str) -> None:
    schedule_id = create(db, "in 5 minutes")
    with write_session(db) as session:
        pause_schedule(session, schedule_id, now=T0)
    assert fire_due(T0 + 10 * MINUTE, limit=10, database_url=db) == []

    with write_session(db) as session:
        resume_schedule(session, schedule_id, now=T0 + 20 * MINUTE)

    assert len(fire_due(T0 + 20 * MINUTE, limit=10, database_url=db)) == 1


def test_a_new_spec_for_a_paused_schedule_keeps_it_paused(db: str) -> None:
    schedule_id = create(db, "every 10 minutes")
    with write_session(db) as session:
        pause_schedule(session, schedule_id, now=T0)
        update_schedule(session, schedule_id, now=T0, spec="every 5 minutes")

    assert fire_due(T0 + 30 * MINUTE, limit=10, database_url=db) == []
    assert schedule(db, schedule_id).payload["paused_next_run"] == (T0 + 5 * MINUTE).isoformat()


def test_a_cancelled_schedule_cannot_be_paused_or_resumed(db: str) -> None:
    schedule_id = create(db, "every 10 minutes")
    with write_session(db) as session:
        cancel_schedule(session, schedule_id, now=T0)
    for action in (pause_schedule, resume_schedule):
        with pytest.raises(ScheduleRefused), write_session(db) as session:
            action(session, schedule_id, now=T0)

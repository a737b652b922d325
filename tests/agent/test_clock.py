"""The model knows when it is: every turn tells it the date, weekday, time and timezone of the
group (claw/agent/clock.py), and memory is dated in the group's timezone too.

The turns run as the pipeline runs them (claw.pipeline.turns.answer_pending, a real database),
with Claude through the real ``anthropic`` SDK against a fake Messages API on 127.0.0.1, or the
offline model, for a group in Auckland: UTC+13 in December, so its date is not UTC's for half
of every day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from claw.agent.claude import ClaudeProvider
from claw.agent.clock import clock_line
from claw.agent.offline import OfflineProvider
from claw.config import Settings
from claw.db import Group, Message, read_session, write_session
from claw.memory import group_memory_root
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.turns import TurnOutcome, answer_pending
from tests.support.databases import as_default_database
from tests.support.fake_anthropic import FakeAnthropic, reply_text

GROUP = "http:kiwis"
ZONE = "Pacific/Auckland"


@pytest.mark.parametrize(
    ("now", "zone", "line"),
    [
        (datetime(2026, 12, 2, 23, 30, tzinfo=timezone.utc), "Pacific/Auckland",
         "(Now: Thursday, 3 December 2026, 12:30 PM, Pacific/Auckland, UTC+13:00)"),
        (datetime(2026, 12, 2, 23, 30, tzinfo=timezone.utc), "America/Los_Angeles",
         "(Now: Wednesday, 2 December 2026, 3:30 PM, America/Los_Angeles, UTC-08:00)"),
        (datetime(2026, 7, 1, 8, 5, tzinfo=timezone.utc), "Europe/Berlin",  # summer time
         "(Now: Wednesday, 1 July 2026, 10:05 AM, Europe/Berlin, UTC+02:00)"),
        (datetime(2026, 3, 9, 5, 45, tzinfo=timezone.utc), "Asia/Kolkata",
         "(Now: Monday, 9 March 2026, 11:15 AM, Asia/Kolkata, UTC+05:30)"),
    ],
)
def test_the_clock_line_is_the_groups_local_date_weekday_time_and_zone(
    now: datetime, zone: str, line: str
) -> None:
    assert clock_line(now, zone) == line


@pytest.fixture
def default_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with as_default_database(db_url, monkeypatch) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, default_db: str) -> Settings:
    return Settings(workspace=tmp_path / "workspace", home=tmp_path / "home", cooldown=0)


def say_in_auckland(text: str) -> None:
    """A message to a group whose own timezone is Auckland's (the server's is UTC)."""
    at = datetime.now(timezone.utc) - timedelta(seconds=5)
    with write_session() as session:
        store_message(session, IncomingMessage("http", "kiwis", "Aroha", text, None, at))
        session.execute(update(Group).where(Group.id == GROUP).values(settings={"timezone": ZONE}))


def day_of(line: str) -> str:
    """``Thursday, 3 December 2026`` of a clock line."""
    return ", ".join(line.removeprefix("(Now: ").split(", ")[:2])


def auckland_days() -> set[str]:
    """Today in Auckland, spelled as the clock spells it (two days if midnight is near)."""
    now = datetime.now(timezone.utc)
    return {day_of(clock_line(moment, ZONE)) for moment in (now - timedelta(minutes=1), now)}


def last_reply() -> str:
    with read_session() as session:
        return session.query(Message).filter_by(group_id=GROUP, role="assistant").one().text


def test_claude_sees_todays_date_in_the_groups_timezone(settings: Settings) -> None:
    # Given a group in Auckland, and Claude behind a fake Messages API
    fake = FakeAnthropic().start()
    try:
        fake.script(reply_text("It is Thursday."))
        say_in_auckland("what day is it?")
        # When its turn runs
        provider = ClaudeProvider(model="claude-sonnet-4-5", api_key="sk-ant-test-0123456789",
                                  base_url=fake.url, max_retries=0, timeout=10)
        assert answer_pending(settings, provider, GROUP).outcome == TurnOutcome.REPLIED
    finally:
        fake.stop()
    # Then the model was told today's weekday and date in Auckland, the zone and its offset,
    # at the end of the last message, never in the cached system prompt
    body = fake.requests[0].body
    told = body["messages"][-1]["content"][-1]["text"].rsplit("\n", 1)[-1]
    assert told.startswith("(Now: ") and told.endswith(", Pacific/Auckland, UTC+13:00)")
    assert day_of(told) in auckland_days()
    assert "(Now: " not in str(body["system"]) and "(Now: " not in str(body["tools"])
    assert last_reply() == "It is Thursday."


def test_the_offline_model_answers_what_day_it_is_from_the_same_clock(settings: Settings) -> None:
    # Given a group in Auckland on the offline model
    say_in_auckland("What day is it?")
    # When its turn runs
    assert answer_pending(settings, OfflineProvider(), GROUP).outcome == TurnOutcome.REPLIED
    # Then the reply is the clock line: Auckland's date, not the server's
    reply = last_reply()
    assert reply.startswith("Aroha: (Now: ") and reply.endswith(", Pacific/Auckland, UTC+13:00)")
    assert day_of(reply.removeprefix("Aroha: ")) in auckland_days()


def test_memory_is_dated_in_the_groups_timezone(settings: Settings) -> None:
    # Given a group in Auckland that asks claw to remember something (offline: save_memory)
    say_in_auckland("remember that the boat is in the water")
    # When its turn runs
    assert answer_pending(settings, OfflineProvider(), GROUP).outcome == TurnOutcome.REPLIED
    # Then the saved entry's heading is Auckland time (+13:00), and the turn's daily line is in
    # the file named for Auckland's date
    notes = (group_memory_root(settings.workspace, GROUP) / "topics" / "notes.md").read_text()
    assert "+13:00" in notes and "the boat is in the water" in notes
    days = {(datetime.now(timezone.utc) + timedelta(minutes=m)).astimezone(ZoneInfo(ZONE)).date().isoformat()
            for m in (-1, 0)}
    daily = [p.stem for p in (group_memory_root(settings.workspace, GROUP) / "daily").glob("*.md")]
    assert len(daily) == 1 and daily[0] in days

"""The scheduling tools as the model calls them (real SQLite), and driven by the offline model."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from claw.agent import ChatLine, ToolCall, TurnInput
from claw.agent.loop import run_agent
from claw.agent.offline import OfflineProvider
from claw.agent.tools import ToolContext, ToolResult, default_registry
from claw.config import Settings
from claw.db import read_session
from claw.db.models import Schedule
from claw.scheduler import ACCEPTED_FORMS

UTC = timezone.utc


def context(db: str, tmp_path: Path, group_id: str = "http:team", tz: str = "Europe/Berlin") -> ToolContext:
    settings = Settings(database_url=db, home=tmp_path / "home", workspace=tmp_path / "ws", tz=tz)
    return ToolContext(group_id, settings.workspace, settings)


def call(ctx: ToolContext, name: str, **arguments: object) -> ToolResult:
    return default_registry().call(ToolCall("toolu_1", name, dict(arguments)), ctx)


def say(ctx: ToolContext, text: str) -> str:
    turn = TurnInput(ctx.group_id, "", [], [ChatLine("user", "alice", text, datetime.now(UTC))])
    return run_agent(OfflineProvider(), turn, default_registry(), ctx, max_iterations=4,
                     history_token_budget=8000).text


def schedules(db: str) -> list[Schedule]:
    with read_session(db) as session:
        return list(session.scalars(select(Schedule).order_by(Schedule.id)))


def test_remind_me_in_1_minute_sets_a_reminder_and_says_when(db: str, tmp_path: Path) -> None:
    before = datetime.now(UTC)
    reply = say(context(db, tmp_path), "remind me in 1 minute to stretch")
    [row] = schedules(db)
    due = row.next_run.replace(tzinfo=UTC)  # type: ignore[union-attr]
    assert before + timedelta(seconds=59) <= due <= datetime.now(UTC) + timedelta(seconds=60)
    local = due.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M")
    assert reply == f"Reminder #{row.id} set for {local} (Europe/Berlin): stretch"
    assert (row.kind, row.group_id, row.created_by, row.payload["request"]) == (
        "reminder", "http:team", "agent", "in 1 minute")


def test_every_day_at_9_schedules_an_agent_prompt(db: str, tmp_path: Path) -> None:
    reply = say(context(db, tmp_path), "every day at 9:00 tell us the plan for the day")
    [row] = schedules(db)
    assert (row.kind, row.spec, row.payload["text"]) == ("agent_prompt", "daily 09:00", "tell us the plan for the day")
    assert re.fullmatch(rf"Task #{row.id} scheduled daily at 09:00, first (tomorrow )?09:00 \(Europe/Berlin\): "
                        r"tell us the plan for the day", reply), reply


def test_list_move_and_cancel_conversationally(db: str, tmp_path: Path) -> None:
    ctx = context(db, tmp_path)
    assert call(ctx, "list_tasks").content == "There are no scheduled tasks or reminders in this group."
    monday = call(ctx, "schedule_task", kind="agent_prompt", spec="weekly MON 09:00", text="post the standup")
    call(ctx, "schedule_task", kind="summary", spec="daily 18:00")
    [first, second] = [s.id for s in schedules(db)]
    assert monday.content.startswith(f"Task #{first} scheduled every Monday at 09:00, first ")
    # "what reminders do I have?"
    listing = call(ctx, "list_tasks").content.splitlines()
    assert listing[0] == "Scheduled in this group:"
    assert any(line.startswith(f"#{first} prompt, every Monday at 09:00, next ") for line in listing)
    assert any(line.startswith(f"#{second} summary, daily at 18:00, next ") and
               line.endswith("(the recent conversation)") for line in listing)
    # "move the Monday one to Tuesday"
    moved = call(ctx, "update_task", task_id=first, spec="weekly TUE 09:00")
    assert moved.content.startswith(f"Updated #{first} prompt, every Tuesday at 09:00, next ")
    assert moved.content.endswith("(Europe/Berlin): post the standup")
    cancelled = call(ctx, "cancel_task", task_id=second)
    assert cancelled.content == f"Cancelled #{second} summary, daily at 18:00 (cancelled) (Europe/Berlin): (the recent conversation)"
    assert [s.id for s in schedules(db) if s.enabled] == [first]


def test_a_group_cannot_see_or_touch_another_groups_tasks(db: str, tmp_path: Path) -> None:
    theirs = call(context(db, tmp_path, "http:other"), "schedule_task", kind="reminder", spec="in 2 hours",
                  text="their secret")
    assert not theirs.is_error
    [row] = schedules(db)
    mine = context(db, tmp_path, "http:team")
    assert call(mine, "list_tasks").content == "There are no scheduled tasks or reminders in this group."
    for name, extra in [("cancel_task", {}), ("update_task", {"text": "mine now"})]:
        result = call(mine, name, task_id=row.id, **extra)
        assert result.is_error and result.content == f"there is no schedule #{row.id} in this group; list them to see the ids"
    [after] = schedules(db)
    assert after.enabled and after.payload["text"] == "their secret"


def test_a_bad_spec_tells_the_model_which_forms_work(db: str, tmp_path: Path) -> None:
    result = call(context(db, tmp_path), "schedule_task", kind="reminder", spec="when the moon is full", text="howl")
    assert result.is_error
    assert result.content == f"cannot understand the schedule 'when the moon is full'; accepted forms: {ACCEPTED_FORMS}"
    assert call(context(db, tmp_path), "update_task", task_id=1).content == (
        "nothing to change: give a new spec, text or timezone")
    assert schedules(db) == []


def test_the_groups_timezone_or_an_explicit_one_is_used(db: str, tmp_path: Path) -> None:
    ctx = context(db, tmp_path, tz="UTC")
    result = call(ctx, "schedule_task", kind="reminder", spec="daily 08:00", text="x", timezone="Asia/Tokyo")
    assert "(Asia/Tokyo)" in result.content
    call(ctx, "schedule_task", kind="reminder", spec="daily 08:00", text="y")
    assert [s.timezone for s in schedules(db)] == ["Asia/Tokyo", "UTC"]


def test_overflowing_and_never_firing_specs_are_clear_tool_errors(db: str, tmp_path: Path) -> None:
    ctx = context(db, tmp_path)
    # When the model asks for schedules that overflow a date or never come
    far = call(ctx, "schedule_task", kind="reminder", spec="in 999999999 days", text="x")
    long = call(ctx, "schedule_task", kind="agent_prompt", spec="every 999999999 hours", text="x")
    never = call(ctx, "schedule_task", kind="reminder", spec="0 9 30 2 *", text="x")
    zone_ = call(ctx, "schedule_task", kind="reminder", spec="daily 09:00", text="x", timezone="../../etc/passwd")
    # Then each is a tool error that says what is wrong, and nothing is scheduled
    assert all(r.is_error for r in (far, long, never, zone_))
    assert far.content.startswith("'in 999999999 days' is too far ahead; the furthest is 10 years")
    assert long.content.startswith("'every 999999999 hours' is too long an interval; the longest is 10 years")
    assert never.content.startswith("'0 9 30 2 *' never runs: no date matches it (like 30 February)")
    assert zone_.content.startswith("unknown timezone '../../etc/passwd'")
    assert schedules(db) == []
    # And moving an existing task to such a time fails the same way and leaves it as it was
    assert not call(ctx, "schedule_task", kind="reminder", spec="daily 09:00", text="tea").is_error
    [made] = schedules(db)
    moved = call(ctx, "update_task", task_id=made.id, spec="0 0 31 4 *")
    assert moved.is_error and moved.content.startswith("'0 0 31 4 *' never runs")
    assert [s.spec for s in schedules(db)] == ["daily 09:00"]


# ---- the forms people write, and the minimum interval -----------------------------------


def test_the_model_is_refused_a_schedule_that_runs_too_often_and_is_told_why(db: str, tmp_path: Path) -> None:
    ctx = context(db, tmp_path)  # CLAW_SCHEDULE_MIN_INTERVAL: the default 5 minutes
    # When the model asks for a reminder every minute, by cron and in words
    for spec in ("* * * * *", "*/2 * * * *", "every 1m"):
        result = call(ctx, "schedule_task", kind="reminder", spec=spec, text="spam")
        # Then it gets a tool error that says the limit and what would work
        assert result.is_error, spec
        assert "may run at most every 5 minutes: choose a longer interval, like 'every 5 minutes'" in result.content
    assert schedules(db) == []
    # And moving an existing task to every minute is refused the same way
    made = call(ctx, "schedule_task", kind="reminder", spec="every 30m", text="stand up")
    assert made.content.startswith("Reminder #1 set every 30 minutes, first ")
    moved = call(ctx, "update_task", task_id=1, spec="every 1 minute")
    assert moved.is_error and "may run at most every 5 minutes" in moved.content
    assert [s.spec for s in schedules(db)] == ["every 30 minutes"]


def test_the_minimum_interval_follows_the_setting(db: str, tmp_path: Path) -> None:
    settings = Settings(database_url=db, home=tmp_path / "home", workspace=tmp_path / "ws",
                        schedule_min_interval="1h")  # type: ignore[arg-type]
    ctx = ToolContext("http:team", settings.workspace, settings)
    assert "may run at most every 1 hour" in call(ctx, "schedule_task", kind="reminder", spec="every 30m",
                                                  text="x").content
    off = Settings(database_url=db, home=tmp_path / "home", workspace=tmp_path / "ws",
                   schedule_min_interval="0")  # type: ignore[arg-type]
    assert not call(ToolContext("http:team", off.workspace, off), "schedule_task", kind="reminder",
                    spec="* * * * *", text="x").is_error


def test_the_offline_model_understands_the_forms_people_write(db: str, tmp_path: Path) -> None:
    ctx = context(db, tmp_path)
    # Given chat messages in everyday words
    morning = say(ctx, "every morning at 8 summarize the news")
    pills = say(ctx, "remind me every evening at 7 to take the pills")
    hourly = say(ctx, "hourly check the feed")
    flood = say(ctx, "remind me every 1 minute to drink water")
    # Then each became the schedule it says, and the flood was refused in the reply
    assert [(s.kind, s.spec, s.payload["text"]) for s in schedules(db)] == [
        ("agent_prompt", "daily 08:00", "summarize the news"),
        ("reminder", "daily 19:00", "take the pills"),
        ("agent_prompt", "every 1 hour", "check the feed")]
    assert morning.startswith("Task #1 scheduled daily at 08:00, first ")
    assert pills.startswith("Reminder #2 set daily at 19:00, first ")
    assert hourly.startswith("Task #3 scheduled every hour, first ")
    assert flood.startswith("Error: 'every minute' runs as often as every 1 minute")

"""The schedule_task IPC action through a real IpcHost and database: what code may schedule.

Code scheduling a turn could keep itself running with nobody asking (an agent_prompt every
minute that runs the code again), so code gets stricter rules than people: turn-starting kinds
only by the group's policy, and a minimum interval on whatever it schedules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from claw.config import Settings
from claw.db import read_session
from claw.db.models import Schedule
from claw.sandbox import SandboxConfigError, limits_for
from claw.sandbox.ipc import ALLOWED_ACTIONS, Identity, IpcHost, Policy, RateLimiter


def ask(tmp_path: Path, args: dict[str, Any], sandbox: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one schedule_task request from http:team's sandbox, under ``sandbox`` settings."""
    group = tmp_path / "group"
    group.mkdir(exist_ok=True)
    settings = Settings(workspace=tmp_path, home=tmp_path / "home", tz="Europe/Berlin")
    host = IpcHost(Identity("http:team"), group, settings=settings, limits=limits_for(settings, sandbox),
                   policy=Policy.for_group(sandbox, ALLOWED_ACTIONS), limiter=RateLimiter())
    host.open()
    (group / ".ipc" / "requests" / "r.json").write_text(json.dumps({"action": "schedule_task", "args": args}))
    host.finish()
    return json.loads((group / ".ipc" / "responses" / "r.json").read_text())  # type: ignore[no-any-return]


def stored() -> list[tuple[str, str, str]]:
    with read_session() as session:
        return [(s.kind, s.spec, s.created_by) for s in session.scalars(select(Schedule).order_by(Schedule.id))]


def test_code_may_not_schedule_a_turn_by_default(tmp_path: Path, default_db: str) -> None:
    # When code asks for an agent prompt every minute, or a summary
    for kind in ("agent_prompt", "summary"):
        answer = ask(tmp_path, {"kind": kind, "spec": "every 1 minute", "text": "run my script again"})
        # Then it is refused, saying why and how a group allows it, and nothing is scheduled
        assert answer["ok"] is False
        assert answer["error"].startswith(f"code may not schedule a {kind} in group http:team: it would start a turn")
        assert "groups.settings['sandbox']['code_agent_prompts'] = true" in answer["error"]
    assert stored() == []


def test_a_group_may_let_code_schedule_turns_within_the_minimum_interval(tmp_path: Path, default_db: str) -> None:
    allow = {"code_agent_prompts": True}
    # Given a group that lets its code schedule turns (minimum interval: the default 60 minutes)
    # When code asks for one every minute, or a one-off in 5 minutes, they are refused
    every_minute = ask(tmp_path, {"kind": "agent_prompt", "spec": "every 1 minute", "text": "again"}, allow)
    assert every_minute["error"] == (
        "'every minute' runs as often as every 1 minute; schedules made by sandboxed code may run at "
        "most every 1 hour: choose a longer interval, like 'every 1 hour'")
    cron = ask(tmp_path, {"kind": "agent_prompt", "spec": "*/5 * * * *", "text": "again"}, allow)
    assert "runs as often as every 5 minutes" in cron["error"]
    soon = ask(tmp_path, {"kind": "agent_prompt", "spec": "in 5 minutes", "text": "again"}, allow)
    assert soon["error"] == "sandboxed code may schedule a agent_prompt no sooner than 1 hour from now: choose a later time"
    # But every two hours, or once tomorrow, is scheduled
    assert ask(tmp_path, {"kind": "agent_prompt", "spec": "every 2 hours", "text": "check the feed"}, allow)["ok"]
    assert ask(tmp_path, {"kind": "summary", "spec": "tomorrow at 9am"}, allow)["ok"]
    [prompt, summary] = stored()
    assert prompt == ("agent_prompt", "every 2 hours", "sandbox")
    assert summary[0] == "summary" and summary[1].startswith("once ") and summary[1].endswith(" 09:00")


def test_the_minimum_interval_applies_to_reminders_from_code_and_a_group_may_change_it(
    tmp_path: Path, default_db: str
) -> None:
    # A one-off reminder soon is fine: it starts no turn
    assert ask(tmp_path, {"kind": "reminder", "spec": "in 5 minutes", "text": "tea"})["ok"]
    # A reminder every 5 minutes is refused at the default minimum of an hour
    spam = ask(tmp_path, {"kind": "reminder", "spec": "every 5 minutes", "text": "spam"})
    assert "may run at most every 1 hour" in spam["error"]
    # ... and allowed where the group set its minimum to 5 minutes
    assert ask(tmp_path, {"kind": "reminder", "spec": "every 5 minutes", "text": "stretch"},
               {"schedule_min_minutes": 5})["ok"]
    [tea, stretch] = stored()
    assert tea[1].startswith("once ") and stretch[:2] == ("reminder", "every 5 minutes")


def test_a_groups_policy_for_code_never_goes_below_claws_own_minimum(tmp_path: Path, default_db: str) -> None:
    # Given a group that lets its code repeat every minute, and claw's minimum of 5 minutes
    loose = {"schedule_min_minutes": 1}
    # Then code is still held to claw's minimum
    every_2 = ask(tmp_path, {"kind": "reminder", "spec": "every 2 minutes", "text": "spam"}, loose)
    assert "may run at most every 5 minutes" in every_2["error"]
    assert ask(tmp_path, {"kind": "reminder", "spec": "every 5 minutes", "text": "stretch"}, loose)["ok"]
    assert [spec for _, spec, _ in stored()] == ["every 5 minutes"]


def test_overflowing_and_never_firing_specs_from_code_are_clear_errors(tmp_path: Path, default_db: str) -> None:
    far = ask(tmp_path, {"kind": "reminder", "spec": "in 999999999 days", "text": "x"})
    assert far["ok"] is False and "'in 999999999 days' is too far ahead" in far["error"]
    never = ask(tmp_path, {"kind": "reminder", "spec": "0 9 30 2 *", "text": "x"})
    assert never["ok"] is False and "'0 9 30 2 *' never runs" in never["error"]
    assert stored() == []


@pytest.mark.parametrize(
    ("document", "complaint"),
    [({"code_agent_prompts": "yes"}, "must be true or false"),
     ({"schedule_min_minutes": 0}, "whole number of minutes"),
     ({"schedule_min_minutes": True}, "whole number of minutes")],
)
def test_bad_schedule_policy_settings_are_config_errors(document: dict[str, Any], complaint: str) -> None:
    with pytest.raises(SandboxConfigError, match=complaint):
        Policy.for_group(document, ALLOWED_ACTIONS)

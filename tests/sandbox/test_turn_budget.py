"""The sandbox-time budget of one turn (claw/sandbox/budget.py), through the run_code tool.

An attacker's turn that calls run_code again and again must not hold the group's shard for
longer than ``turn_seconds``: later runs are cut to what is left, then refused outright.
"""

from __future__ import annotations

import time

from claw.agent import ToolCall
from claw.agent.tools import ToolContext, ToolResult, default_registry
from claw.config import Settings

SLOW = "import time; print('working', flush=True); time.sleep(2.5); print('done')"


def call(ctx: ToolContext, code: str) -> ToolResult:
    return default_registry().call(ToolCall("toolu_1", "run_code", {"language": "python", "code": code}), ctx)


def test_a_turn_stops_running_code_when_its_sandbox_time_is_spent(settings: Settings, default_db: str) -> None:
    # Given a turn with 4 s of sandbox time and runs that each want 2.5 s
    budgeted = settings.model_copy(update={"sandbox_turn_seconds": 4.0, "sandbox_wall_seconds": 10.0})
    ctx = ToolContext("http:team", budgeted.workspace, budgeted)
    first = call(ctx, SLOW)
    # When a second run would pass the budget, it is cut to what is left
    second = call(ctx, SLOW)
    # Then a third long run is refused before any sandbox starts
    started = time.monotonic()
    third = call(ctx, SLOW)
    assert first.content.startswith("exit code 0") and first.content.endswith("working\ndone\n")
    assert second.content.startswith("killed after") and "done" not in second.content, second.content
    assert third.is_error and third.content.startswith("no more code runs this turn"), third.content
    # (no sandbox started: a started run takes its 2.5 s; 2 s leaves a loaded machine room)
    assert time.monotonic() - started < 2.0
    # And the next turn (a new context) has its full budget again
    assert call(ToolContext("http:team", budgeted.workspace, budgeted), "print('fresh')").content.endswith("fresh\n")


def test_a_groups_turn_budget_can_be_narrowed(settings: Settings, default_db: str) -> None:
    from claw.db import Group, write_session

    with write_session() as session:
        session.get_one(Group, "http:team").settings = {"sandbox": {"turn_seconds": 1}}
    ctx = ToolContext("http:team", settings.workspace, settings)
    cut = call(ctx, SLOW)
    assert cut.content.startswith("killed after 1."), cut.content
    assert "the time limit is 1 s" in cut.content
    assert call(ctx, "print(1)").content.startswith("no more code runs this turn")

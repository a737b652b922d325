"""claw.faults: a configured fault point fails, kills or pauses exactly where it is placed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from claw.config import get_settings
from claw.faults import FaultInjected, fault_point, reset_fault_points


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def configure(spec: str) -> None:
        monkeypatch.setenv("CLAW_HOME", str(tmp_path))
        monkeypatch.setenv("CLAW_FAULT_POINTS", spec)
        get_settings.cache_clear()
        reset_fault_points()

    yield configure
    get_settings.cache_clear()
    reset_fault_points()


def test_an_unconfigured_point_does_nothing(faults) -> None:
    faults("other.point:raise")
    fault_point("turn.after_tool")  # no exception


def test_raise_fires_every_time(faults) -> None:
    faults("turn.after_tool:raise")
    for _ in range(2):
        with pytest.raises(FaultInjected):
            fault_point("turn.after_tool")


def test_raise_once_fires_once_per_home_even_in_a_new_process(faults, tmp_path: Path) -> None:
    faults("turn.after_tool:raise-once")
    with pytest.raises(FaultInjected):
        fault_point("turn.after_tool")
    fault_point("turn.after_tool")
    reset_fault_points()  # as a restarted process would
    fault_point("turn.after_tool")


def test_kill_once_kills_the_process_at_the_point(tmp_path: Path) -> None:
    code = "from claw.faults import fault_point; fault_point('x'); print('after')"
    env = {"CLAW_HOME": str(tmp_path), "CLAW_FAULT_POINTS": "x:kill-once", "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert first.returncode == -9 and "after" not in first.stdout
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert second.returncode == 0 and second.stdout.strip() == "after"


def test_first_n_fires_the_first_n_times_only_across_restarts(faults) -> None:
    faults("turn.before_agent:raise-first-2")
    with pytest.raises(FaultInjected):
        fault_point("turn.before_agent")
    reset_fault_points()  # as a restarted process would
    with pytest.raises(FaultInjected):
        fault_point("turn.before_agent")
    fault_point("turn.before_agent")
    fault_point("turn.before_agent")


def test_a_point_named_for_one_group_fires_for_that_group_only(faults) -> None:
    # group ids contain ":", so the action is what follows the last one
    faults("turn.before_agent@http:team:raise,turn.before_agent@whatsapp:1@g.us:sleep-0-first-1")
    with pytest.raises(FaultInjected, match="turn.before_agent@http:team"):
        fault_point("turn.before_agent@http:team")
    fault_point("turn.before_agent@http:other")
    fault_point("turn.before_agent@whatsapp:1@g.us")
    fault_point("turn.before_agent")

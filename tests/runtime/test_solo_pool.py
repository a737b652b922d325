"""claw.runtime.solo_pool: the shard workers' time limits, which Celery's solo pool ignores.

The soft limit must interrupt the running task (so a turn apologises), the hard one must end the
process (so the fork server forks a new worker and the turn is redone). The whole worker, with
the limits reached by a real task, is tested end to end in tests/e2e/test_stuck_groups.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from claw.runtime.solo_pool import TaskPool, time_limits


def sleep_until(deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_soft_limit_interrupts_the_running_work() -> None:
    # Given work that would run 30 s, under a soft limit of 1 s
    with pytest.raises(SoftTimeLimitExceeded) as interrupted:
        with time_limits(soft=1, hard=None):
            sleep_until(30)
    # Then it is interrupted with the exception a turn turns into an apology
    assert "soft time limit (1 s) exceeded" in str(interrupted.value)


def test_work_that_ends_in_time_is_not_interrupted_later() -> None:
    # Given work that ends well within both limits
    with time_limits(soft=1, hard=2):
        pass
    # Then nothing fires after it: the process lives on past both limits, uninterrupted
    sleep_until(2.5)


def test_the_hard_limit_kills_the_process() -> None:
    # Given a process whose work hangs past the hard limit (and ignores the soft one)
    code = (
        "import time\n"
        "from celery.exceptions import SoftTimeLimitExceeded\n"
        "from claw.runtime.solo_pool import time_limits\n"
        "with time_limits(soft=None, hard=1):\n"
        "    while True:\n"
        "        try:\n"
        "            time.sleep(0.1)\n"
        "        except SoftTimeLimitExceeded:\n"
        "            pass\n"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # Then it is killed outright, and says why first
    assert process.returncode == -signal.SIGKILL
    assert "turn_hard_time_limit seconds=1" in process.stderr


def test_the_pool_applies_the_workers_limits_to_a_task() -> None:
    # Given the pool as a worker makes it, with the worker's limits (celeryconfig's)
    pool = TaskPool(limit=1, soft_timeout=1, timeout=60)
    results: list[object] = []

    def task() -> str:
        try:
            sleep_until(30)
        except SoftTimeLimitExceeded:
            return "apologised"
        return "ran on"

    # When it runs a task that takes too long
    pool.apply_async(task, callback=results.append)
    # Then the task is interrupted at the soft limit and handles it itself
    assert results == ["apologised"]

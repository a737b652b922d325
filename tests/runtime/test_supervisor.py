"""claw.runtime.supervisor: restart what crashes, stop warm, kill what will not stop (real processes)."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from claw.runtime.supervisor import ProcessSpec, Supervisor


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def sleeper(ready: Path, *, ignore_term: bool = False) -> list[str]:
    """A process that says it is ready (after installing its signal handling), then sleeps."""
    lines = ["import signal, time"]
    if ignore_term:
        lines.append("signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    lines += [f"open({str(ready)!r}, 'w').close()", "while True: time.sleep(0.1)"]
    return python("\n".join(lines))


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    """Supervisors a test started; whatever is still running afterwards is killed."""
    started: list[Supervisor] = []
    yield started
    for supervisor in started:
        for run in supervisor.running.values():
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()


def start(supervisors: list[Supervisor], *specs: ProcessSpec) -> Supervisor:
    supervisor = Supervisor(list(specs))
    supervisors.append(supervisor)
    supervisor.start()
    return supervisor


def test_a_process_that_exits_is_restarted(tmp_path: Path, supervisors: list[Supervisor]) -> None:
    # Given a process that crashes the first time it runs and then keeps running
    crashed = tmp_path / "crashed"
    code = (f"import os, sys, time\n"
            f"if not os.path.exists({str(crashed)!r}):\n"
            f"    open({str(crashed)!r}, 'w').close(); sys.exit(3)\n"
            f"while True: time.sleep(0.1)")
    supervisor = start(supervisors, ProcessSpec("worker", python(code), stop_grace=2))
    first_pid = supervisor.pids()["worker"]
    assert supervisor.running["worker"].process.wait(5) == 3

    # When the supervisor keeps polling
    wait_for(lambda: supervisor.poll_once() or supervisor.running["worker"].restarts == 1)

    # Then a new process runs in its place
    run = supervisor.running["worker"]
    assert run.process.pid != first_pid
    assert supervisor.pids()["worker"] == run.process.pid
    time.sleep(0.2)
    assert run.process.poll() is None


def test_a_quick_crash_is_restarted_after_a_backoff(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    # Given a process that crashed right after it started
    supervisor = start(supervisors, ProcessSpec("flaky", python("raise SystemExit(1)"),
                                                stop_grace=2))
    first_pid = supervisor.pids()["flaky"]
    supervisor.running["flaky"].process.wait(5)

    # When the supervisor polls at once
    supervisor.poll_once()

    # Then it waits (0.5 s for the first restart) before starting it again
    assert supervisor.running["flaky"].restarts == 0
    assert supervisor.pids()["flaky"] == first_pid
    time.sleep(0.6)
    supervisor.poll_once()
    assert supervisor.running["flaky"].restarts == 1
    assert supervisor.pids()["flaky"] != first_pid


def test_stop_sends_sigterm(tmp_path: Path, supervisors: list[Supervisor]) -> None:
    # Given two well-behaved processes
    ready_a, ready_b = tmp_path / "a", tmp_path / "b"
    supervisor = start(supervisors, ProcessSpec("a", sleeper(ready_a), stop_grace=10),
                       ProcessSpec("b", sleeper(ready_b), stop_grace=10))
    wait_for(lambda: ready_a.exists() and ready_b.exists())

    # When the supervisor stops
    started = time.monotonic()
    supervisor.stop()

    # Then both ended from SIGTERM, well within their grace
    assert time.monotonic() - started < 5
    for name in ("a", "b"):
        assert supervisor.running[name].process.returncode == -signal.SIGTERM


def test_a_process_ignoring_sigterm_is_killed_after_its_grace(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    # Given a process that ignores SIGTERM and has 0.5 s of grace
    ready = tmp_path / "ready"
    supervisor = start(supervisors,
                       ProcessSpec("stubborn", sleeper(ready, ignore_term=True), stop_grace=0.5))
    wait_for(ready.exists)

    # When the supervisor stops
    started = time.monotonic()
    supervisor.stop()
    took = time.monotonic() - started

    # Then it was given its grace, then killed
    assert supervisor.running["stubborn"].process.returncode == -signal.SIGKILL
    assert 0.5 <= took < 5


def test_the_kill_reaches_the_whole_process_group(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    # Given a process that ignores SIGTERM and has a child of its own (like a worker's pool)
    ready, child_pid = tmp_path / "ready", tmp_path / "child.pid"
    code = (f"import signal, subprocess, time\n"
            f"signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            f"child = subprocess.Popen(['sleep', '60'])\n"
            f"open({str(child_pid)!r}, 'w').write(str(child.pid))\n"
            f"open({str(ready)!r}, 'w').close()\n"
            f"while True: time.sleep(0.1)")
    supervisor = start(supervisors, ProcessSpec("parent", python(code), stop_grace=0.3))
    wait_for(ready.exists)
    grandchild = psutil.Process(int(child_pid.read_text()))

    # When the supervisor stops and has to kill it
    supervisor.stop()

    # Then the child is gone too, not left orphaned
    def gone() -> bool:
        try:
            return grandchild.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(gone, timeout=3)


def test_nothing_is_restarted_once_stopping(tmp_path: Path, supervisors: list[Supervisor]) -> None:
    ready = tmp_path / "ready"
    supervisor = start(supervisors, ProcessSpec("a", sleeper(ready), stop_grace=5))
    wait_for(ready.exists)
    pid = supervisor.pids()["a"]

    supervisor.stop()
    supervisor.poll_once()
    time.sleep(0.6)
    supervisor.poll_once()

    assert supervisor.pids()["a"] == pid
    assert supervisor.running["a"].restarts == 0
    assert supervisor.running["a"].process.poll() is not None

"""claw.runtime.forked and the supervisor over forked children (what the fork server does):
restart a child that dies, stop them warm, and never outlive the parent. Real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from claw.runtime.forked import fork_child
from claw.runtime.supervisor import ProcessSpec, Supervisor


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_forked_child_exits_with_what_it_returns_and_is_reaped() -> None:
    # Given a child that returns 7
    child = fork_child(lambda: 7)
    # Then its parent sees that exit code, as from a Popen
    assert child.wait(timeout=20) == 7
    assert child.poll() == 7


def test_a_forked_child_that_raises_exits_non_zero_and_never_runs_the_parents_code() -> None:
    # Given a parent whose forked child's work raises, and which prints after the fork
    code = textwrap.dedent("""
        from claw.runtime.forked import fork_child
        def fail():
            raise RuntimeError("boom")
        child = fork_child(fail)
        print("parent goes on; child exited with", child.wait(timeout=20), flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # Then only the parent went on (once), the child exited 1, and its traceback was shown
    assert done.stdout.splitlines() == ["parent goes on; child exited with 1"]
    assert "RuntimeError: boom" in done.stderr


def test_wait_with_a_timeout_raises_as_popen_does() -> None:
    child = fork_child(lambda: time.sleep(30) or 0)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.2)
    finally:
        child.kill()
    assert child.wait(timeout=20) == -signal.SIGKILL


def test_the_supervisor_forks_again_a_child_that_dies_and_stops_them_warm(tmp_path: Path) -> None:
    started = tmp_path / "started"

    def worker() -> int:
        with started.open("a") as log:
            log.write(f"{os.getpid()}\n")
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        while not stop:
            time.sleep(0.05)
        return 0

    supervisor = Supervisor([ProcessSpec("w", ["worker"], stop_grace=20)],
                            spawn=lambda spec: fork_child(worker))
    supervisor.start()
    try:
        wait_for(lambda: started.exists() and len(started.read_text().split()) == 1)
        first = supervisor.running["w"].process.pid
        # When the child is killed outright
        os.kill(first, signal.SIGKILL)
        # Then it is forked again (no program to start: the supervisor's own fork)
        wait_for(lambda: supervisor.poll_once() or len(started.read_text().split()) == 2)
        second = supervisor.running["w"].process.pid
        assert second != first and psutil.Process(second).ppid() == os.getpid()
    finally:
        # And a stop ends it warm: SIGTERM, and it exits 0 on its own
        supervisor.stop()
    assert supervisor.running["w"].process.returncode == 0


def test_forked_children_die_with_their_parent(tmp_path: Path) -> None:
    # Given a fork server stand-in that forks a child and then is SIGKILLed
    pid_file = tmp_path / "child"
    code = textwrap.dedent(f"""
        import time
        from claw.runtime.forked import fork_child
        child = fork_child(lambda: time.sleep(60) or 0)
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text())
        child = psutil.Process(int(pid_file.read_text()))
        parent.kill()
        parent.wait()
        # Then the kernel ends the child too (PR_SET_PDEATHSIG), leaving no orphan
        wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_the_fork_server_fails_the_start_when_a_child_exits_before_the_stack_is_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from claw.runtime.forkserver import STARTED_SIGNAL, supervise
    from claw.runtime.supervisor import STOP_SIGNALS

    saved = {sig: signal.getsignal(sig) for sig in (*STOP_SIGNALS, STARTED_SIGNAL)}
    # Given a fork server whose API child exits at once (as on a port taken since the check)
    supervisor = Supervisor([ProcessSpec("api", ["uvicorn"], stop_grace=5)],
                            spawn=lambda spec: fork_child(lambda: 3))
    try:
        # When it runs before `claw up` has said the stack is up
        with caplog.at_level("ERROR", logger="claw.runtime.forkserver"), pytest.raises(SystemExit) as ended:
            supervise(supervisor, started=False)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    # Then it exits 1 naming the child, rather than forking it again and again
    assert ended.value.code == 1
    assert "api exited with code 3 while claw was starting" in caplog.text

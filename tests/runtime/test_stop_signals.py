"""Which signals stop `claw up`'s supervisor, and how: SIGHUP (the terminal closing) warm like
SIGTERM and Ctrl-C; a second signal during the warm stop kills everything at once. The
supervisor runs in a process of its own here, as in `claw up`, so real signals reach it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from claw.bench.processes import free_port
from claw.config import Settings
from claw.runtime.readiness import NotReady, Port, check_ports_free, wait_until_ready
from claw.runtime.supervisor import ProcessSpec, Supervisor
from tests.runtime.test_supervisor import python, wait_for

#: a child that notes its SIGTERM in a file, then exits (warm) or goes on running (stubborn)
CHILD = """
import signal, sys, time
marks, stubborn = sys.argv[1], sys.argv[2] == "stubborn"
def on_term(*_):
    open(marks, "a").write("term\\n")
    if not stubborn:
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open(marks, "a").write("ready\\n")
while True:
    time.sleep(0.05)
"""

SUPERVISOR = """
import logging, sys
from claw.runtime.supervisor import ProcessSpec, Supervisor
logging.basicConfig(level=logging.INFO, format="%(message)s")
child = [sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]]
supervisor = Supervisor([ProcessSpec("child", child, stop_grace=120)])
supervisor.start()
print("pid", supervisor.pids()["child"], flush=True)
supervisor.run_until_signalled()
print("forced" if supervisor.forced else "warm", flush=True)
"""


@pytest.fixture
def launched() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        for child in psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []:
            child.kill()
        if process.poll() is None:
            process.kill()
        process.wait()


def supervise(launched: list[subprocess.Popen[str]], marks: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", SUPERVISOR, CHILD, str(marks), mode],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    launched.append(process)
    assert process.stdout is not None
    line = ""
    while not line.startswith("pid "):  # after the supervisor's own "started child" line
        line = process.stdout.readline()
        assert line, "the supervisor exited"
    child = int(line.split()[1])
    wait_for(lambda: marks.exists() and "ready" in marks.read_text(), timeout=10)
    return process, child


def test_sighup_stops_warm_like_sigterm(tmp_path: Path, launched: list[subprocess.Popen[str]]) -> None:
    marks = tmp_path / "marks"
    process, child = supervise(launched, marks, "warm")

    process.send_signal(signal.SIGHUP)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 0, output
    assert output.strip().endswith("warm")
    assert marks.read_text().splitlines() == ["ready", "term"]  # the child got its SIGTERM
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_a_second_signal_during_the_warm_stop_kills_everything_at_once(
    tmp_path: Path, launched: list[subprocess.Popen[str]]
) -> None:
    # Given a child that takes its time to stop (a grace of 120 s)
    marks = tmp_path / "marks"
    process, child = supervise(launched, marks, "stubborn")

    # When Ctrl-C starts the warm stop, and a second Ctrl-C comes while it waits
    process.send_signal(signal.SIGINT)
    wait_for(lambda: "term" in marks.read_text(), timeout=10)
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    output, _ = process.communicate(timeout=30)

    # Then it stops at once (well within the child's grace), and the child is gone
    assert time.monotonic() - started < 20
    assert process.returncode == 0, output
    assert "forced stop: killing every process now" in output and output.strip().endswith("forced")
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(NotReady) as refused:
            check_ports_free([Port("the HTTP API", "127.0.0.1", free_port(), "--api-port"),
                              Port("Flower", "127.0.0.1", port, "--flower-port")])

    me = psutil.Process()
    assert str(refused.value).startswith(f"port {port} on 127.0.0.1, for Flower, is taken by {me.name()} (pid {me.pid})")
    assert str(refused.value).endswith("stop that program or choose another port (--flower-port)")


def test_a_process_that_exits_while_starting_fails_the_start(tmp_path: Path) -> None:
    # Given a stack whose API process exits at once (as on a port taken since the check)
    supervisor = Supervisor([ProcessSpec("api", python("import sys; sys.exit(3)"), stop_grace=1)])
    supervisor.start()
    settings = Settings(home=tmp_path, api_port=free_port())

    with pytest.raises(NotReady) as failed:
        wait_until_ready(supervisor, settings, timeout=30)

    assert str(failed.value) == "api exited with code 3 while claw was starting; its own output above says why"


def test_a_process_that_keeps_crashing_after_the_start_is_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an API that exits at once every time (short backoffs, to keep the test quick)
    monkeypatch.setattr("claw.runtime.supervisor.RESTART_BACKOFF_MAX", 0.05)
    supervisor = Supervisor([ProcessSpec("api", python("import sys; sys.exit(1)"), stop_grace=1)])
    supervisor.start()

    # When it has been restarted a few times
    with caplog.at_level("ERROR", logger="claw.runtime.supervisor"):
        wait_for(lambda: supervisor.poll_once() or supervisor.running["api"].restarts >= 5, timeout=30)
    supervisor.stop()

    # Then it is named as crash-looping, once
    loops = [r.getMessage() for r in caplog.records if "keeps crashing" in r.getMessage()]
    assert loops == ["api keeps crashing (5 times in a row, each within 30 s of its start); "
                     "its own output above says why"]

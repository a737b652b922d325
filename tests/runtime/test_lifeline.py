"""claw.runtime.lifeline: children die with their supervisor; one `claw up` per home."""

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

from claw.runtime.lifeline import HomeInUse, HomeLock
from tests.support.stack import wait_until


def test_a_child_dies_when_its_supervisor_is_sigkilled(tmp_path: Path) -> None:
    # Given a parent that starts a long-sleeping child with die_with_parent, then waits
    script = textwrap.dedent("""
        import subprocess, sys, time
        from claw.runtime.lifeline import die_with_parent
        child = subprocess.Popen(["sleep", "300"], start_new_session=True, preexec_fn=die_with_parent())
        print(child.pid, flush=True)
        time.sleep(300)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert psutil.pid_exists(child_pid)
    # When the parent is SIGKILLed (no clean-up code of its own can run)
    parent.kill()
    parent.wait()
    # Then the kernel ends the child too
    wait_until(lambda: not _alive(child_pid), 10, "the orphaned child to die")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_second_holder_of_the_home_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    # Given a process holding the home's lock
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"from claw.runtime.lifeline import HomeLock; from pathlib import Path; import time;"
         f"HomeLock(Path({str(tmp_path)!r})).acquire(); print('held', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    try:
        # When another tries to take it, it is refused, and told who holds it
        with pytest.raises(HomeInUse, match=rf"already running on .* \(pid {holder.pid}\)") as refused:
            HomeLock(tmp_path).acquire()
        assert refused.value.pid == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # And once the holder is gone (even by SIGKILL) the home is free again
    lock = HomeLock(tmp_path).acquire()
    assert (tmp_path / "claw-up.lock").read_text() == str(os.getpid())
    lock.release()


def test_the_lock_is_released_on_release(tmp_path: Path) -> None:
    first = HomeLock(tmp_path).acquire()
    first.release()
    second = HomeLock(tmp_path).acquire()
    second.release()
    time.sleep(0)  # nothing left to wait for: both acquired without blocking

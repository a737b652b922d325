"""A child process made by ``os.fork()`` (no new program), supervised like a Popen.

The fork server (claw/runtime/forkserver.py) forks the stack's processes instead of starting
``python -m celery`` for each: a forked child shares every page of the parent's imported code
until it writes to one, where a new program would import (and pay for) everything again.
:class:`ForkedChild` gives such a child the part of Popen's interface the supervisor uses, so
its restart and warm-stop logic (claw/runtime/supervisor.py) serves both.

The child leads a session of its own (the supervisor's kill takes its whole process group:
the process and anything it started, a sandbox run) and asks the kernel for ``orphan_signal`` when the fork server
dies, as `claw up`'s own children do (claw/runtime/lifeline.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable

from claw.runtime.lifeline import die_with_parent

#: how often wait() looks again; the supervisor polls every 0.2 s anyway
WAIT_STEP = 0.05


class ForkedChild:
    """A forked process of ours: poll, wait, signal, as with ``subprocess.Popen``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone, how is not known
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(WAIT_STEP)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never signal a pid that may have been reused
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_child(run: Callable[[], int | None], *, orphan_signal: int = signal.SIGKILL,
               reset_signals: tuple[int, ...] = ()) -> ForkedChild:
    """Fork; the child runs ``run`` and exits with what it returns, never returning here.

    ``reset_signals``: the parent's handlers the child must not keep (the fork server's own
    stop handlers: the child installs its own, and until then the default ends it).
    """
    arrange = die_with_parent(orphan_signal)
    for stream in (sys.stdout, sys.stderr):  # else the child writes the parent's buffer again
        stream.flush()
    pid = os.fork()
    if pid:
        return ForkedChild(pid)
    code = 1
    try:
        os.setsid()
        arrange()
        for sig in reset_signals:
            signal.signal(sig, signal.SIG_DFL)
        result = run()
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)

"""Children that die with `claw up`, and one `claw up` per CLAW_HOME.

An operator who SIGKILLs `claw up` (or whose terminal dies with it) must not be left with a
beat, workers and a Redis running without a parent: the next `claw up` would start a second beat
and crash-loop on busy ports. Two kernel features make this hold without a clean-up step that a
SIGKILL would skip:

- ``PR_SET_PDEATHSIG``: each child asks the kernel for a signal when its parent dies. Celery's
  pool children already ask for SIGKILL when their worker dies (celery.concurrency.prefork), and
  bwrap runs with --die-with-parent, so the whole tree goes.
- ``flock`` on ``$CLAW_HOME/claw-up.lock``: held by the running `claw up` and released by the
  kernel when it dies, however it dies; the pid written into it names the holder.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1
LOCK_FILE = "claw-up.lock"


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` for Popen: the child gets ``sig`` when the process that started it dies.

    Trap: the kernel sends it when the *thread* that forked the child ends, so call Popen with
    this from a thread that lives as long as the process (the supervisor's main loop).
    """
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def arrange() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            return  # not Linux: nothing to arrange, the warm shutdown still stops children
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return arrange


class HomeInUse(RuntimeError):
    """Another `claw up` runs on this CLAW_HOME."""

    def __init__(self, home: Path, pid: int | None) -> None:
        self.pid = pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"claw is already running on {home} ({who}). Stop it first (Ctrl-C in its terminal, "
            f"or kill -TERM {pid or '<pid>'}), or start this one with another --home."
        )


class HomeLock:
    """An exclusive hold on a CLAW_HOME for the life of this process."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> HomeLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise HomeInUse(self.path.parent, int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

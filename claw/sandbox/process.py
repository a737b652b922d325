"""Running one launch plan: output capped, wall clock enforced, the whole group killed.

Every backend turns a run into a :class:`LaunchPlan` (an argv plus how to start it); this module
is the one place that starts it and watches it, so limits behave the same on every backend.
The process is started in a new session, so killing its process group reaches everything it
forked that did not leave the group itself; bwrap's pid namespace reaches the rest, and the
run's cgroup (claw/sandbox/cgroup.py), when there is one, is entered before exec and emptied
at the end.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from claw.sandbox.cgroup import RunCgroup
from claw.sandbox.errors import SandboxUnavailable
from claw.sandbox.limits import Limits
from claw.sandbox.output import OutputCapture

log = logging.getLogger(__name__)

#: how long to keep reading after the main process is gone (its last words may be in flight)
DRAIN_SECONDS = 0.5
#: after a kill, how long to wait for the process to go before giving up on it
KILL_GRACE_SECONDS = 5.0
READ_CHUNK = 1 << 16


@dataclass
class LaunchPlan:
    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    #: descriptors the child inherits (bwrap's --ro-bind-data memfds); closed here after start
    pass_fds: tuple[int, ...] = ()
    #: runs in the child between fork and exec (rlimits, privilege drop); keep it small
    preexec: Callable[[], None] | None = None
    #: a command that stops the run from outside (docker: the container outlives its CLI)
    kill_argv: list[str] | None = None


@dataclass(frozen=True, slots=True)
class ProcessResult:
    exit_code: int | None
    output: str
    output_bytes: int
    truncated: bool
    seconds: float
    killed: str | None = None  #: why the run was killed ("timeout", "heartbeat", ...), if it was
    oom_kills: int = 0  #: processes the kernel killed for the run's memory limit (cgroup only)


@dataclass
class Execution:
    """A started plan. ``kill`` may be called from any thread; ``wait`` from the starter's."""

    plan: LaunchPlan
    limits: Limits
    #: the run's cgroup: the child enters it before exec; it is emptied and removed after wait
    cgroup: RunCgroup | None = None
    popen: subprocess.Popen[bytes] = field(init=False)
    started: float = field(init=False)
    killed: str | None = field(default=None, init=False)
    _killed_at: float = field(default=0.0, init=False)
    oom_kills: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        try:
            self.popen = subprocess.Popen(
                self.plan.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.plan.env,
                cwd=self.plan.cwd,
                pass_fds=self.plan.pass_fds,
                preexec_fn=self._preexec(),
                start_new_session=True,
            )
        except BaseException as exc:
            self.release()
            if isinstance(exc, (OSError, subprocess.SubprocessError)):
                raise SandboxUnavailable(f"could not start the sandbox ({self.plan.argv[0]}): {exc}") from exc
            raise
        finally:
            for fd in self.plan.pass_fds:
                os.close(fd)
            if self.cgroup is not None:
                self.cgroup.started()

    def _preexec(self) -> Callable[[], None] | None:
        cgroup, preexec = self.cgroup, self.plan.preexec
        if cgroup is None:
            return preexec

        def enter_then_prepare() -> None:
            cgroup.join()  # first, while still root: everything the run forks is inside
            if preexec is not None:
                preexec()

        return enter_then_prepare

    def release(self) -> None:
        """Empty and remove the run's cgroup (done by wait; call it if wait was cut short)."""
        if self.cgroup is not None:
            self.cgroup.close()

    def kill(self, reason: str) -> None:
        with self._lock:
            if self.killed is None:
                self.killed = reason
                self._killed_at = time.monotonic()
                log.warning("sandbox_killed pid=%s reason=%s", self.popen.pid, reason)
        self._kill_group()
        if self.cgroup is not None:
            self.cgroup.kill()
        if self.plan.kill_argv:
            try:
                subprocess.run(self.plan.kill_argv, capture_output=True, timeout=15)
            except (OSError, subprocess.SubprocessError):
                pass

    def _kill_group(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self) -> ProcessResult:
        capture = OutputCapture(self.limits.output_bytes)
        assert self.popen.stdout is not None
        stream = self.popen.stdout
        os.set_blocking(stream.fileno(), False)
        deadline = self.started + self.limits.wall_seconds
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            drain_until: float | None = None
            while True:
                now = time.monotonic()
                if now >= deadline and self.killed is None:
                    self.kill("timeout")
                if self._read(selector, capture, 0.05):
                    break  # end of output: every writer is gone
                if drain_until is None and self.popen.poll() is not None:
                    # The main process is gone; stragglers holding the pipe go with its group.
                    self._kill_group()
                    drain_until = now + DRAIN_SECONDS
                if drain_until is not None and now >= drain_until:
                    break
                if self.killed is not None and now - self._killed_at > KILL_GRACE_SECONDS:
                    log.error("sandbox_unkillable pid=%s", self.popen.pid)
                    break
        stream.close()
        try:
            code = self.popen.wait(timeout=KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        self.oom_kills = self.cgroup.oom_kills() if self.cgroup is not None else 0
        self.release()  # nothing of the run outlives it, even what left the process group
        return ProcessResult(
            exit_code=code,
            output=capture.render(),
            output_bytes=capture.total,
            truncated=capture.truncated,
            seconds=time.monotonic() - self.started,
            killed=self.killed,
            oom_kills=self.oom_kills,
        )

    @staticmethod
    def _read(selector: selectors.BaseSelector, capture: OutputCapture, timeout: float) -> bool:
        """Read what is there; True at end of output."""
        for key, _ in selector.select(timeout):
            try:
                chunk = os.read(key.fd, READ_CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                return True
            capture.feed(chunk)
        return False

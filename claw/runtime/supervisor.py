"""A small process supervisor for `claw up`: start, restart on crash, stop warm.

Why not honcho or circus: honcho stops the whole tree when one process exits (we want a killed
worker restarted, the chaos tests rely on it), and circus brings ZeroMQ and a daemon of its own.
What we need fits here: restart with backoff, and an ordered warm shutdown in which Celery
workers get SIGTERM (their warm shutdown: running turns finish) and time to finish.

Ctrl-C, SIGTERM and SIGHUP (the terminal closing) start that warm stop; a second one during it
kills everything at once, as the uvicorn child's "press Ctrl-C again" promises.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from claw.runtime.lifeline import die_with_parent

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX = 10.0
#: a process that ran this long before exiting is restarted at once, its crash count forgotten
STABLE_AFTER = 30.0
#: quick crashes in a row after which a process is reported as crash-looping
CRASH_LOOP = 5


@dataclass
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    #: seconds a process may take to stop after SIGTERM before it is killed
    stop_grace: float = 30.0
    #: what the kernel sends it if the supervisor dies without stopping it (SIGKILL of `claw up`)
    orphan_signal: int = signal.SIGKILL
    #: stopped only once every other process has stopped (the Redis that warm shutdowns need)
    stop_last: bool = False


class Child(Protocol):
    """What the supervisor needs of a process it started: a Popen, or a forked worker
    (claw/runtime/forked.py)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


@dataclass
class _Running:
    spec: ProcessSpec
    process: Child
    started: float
    restarts: int = 0
    backoff_until: float = 0.0


@dataclass
class Supervisor:
    specs: list[ProcessSpec]
    running: dict[str, _Running] = field(default_factory=dict)
    stopping: bool = False
    forced: bool = False
    #: stop signals received (SIGINT, SIGTERM, SIGHUP), in order
    received: list[int] = field(default_factory=list)
    #: how a process is started; by default a new program (Popen) from ``spec.argv``
    spawn: Callable[[ProcessSpec], Child] | None = None
    _stopping_warm: bool = False

    def _spawn(self, spec: ProcessSpec) -> Child:
        if self.spawn is not None:
            return self.spawn(spec)
        # A session of its own: Ctrl-C in the terminal reaches only us, and we stop children
        # in order instead of all at once.
        # The kernel ends it if we are SIGKILLed (claw/runtime/lifeline.py).
        return subprocess.Popen(
            list(spec.argv), env=spec.env or os.environ.copy(), start_new_session=True,
            preexec_fn=die_with_parent(spec.orphan_signal),
        )

    def adopt(self, spec: ProcessSpec, process: Child) -> None:
        """Supervise a process started elsewhere (first, so it is stopped last)."""
        self.specs.insert(0, spec)
        self.running = {spec.name: _Running(spec, process, time.monotonic()), **self.running}

    def start(self) -> None:
        for spec in self.specs:
            if spec.name in self.running:
                continue
            self.running[spec.name] = _Running(spec, self._spawn(spec), time.monotonic())
            log.info("started %s pid=%s", spec.name, self.running[spec.name].process.pid)

    def pids(self) -> dict[str, int]:
        return {name: r.process.pid for name, r in self.running.items()}

    def exited(self) -> dict[str, int]:
        """Processes that have exited (and are not restarted yet), with their exit codes."""
        return {name: code for name, run in self.running.items()
                if (code := run.process.poll()) is not None}

    def poll_once(self) -> None:
        """Restart any process that exited while we were not stopping."""
        now = time.monotonic()
        for name, run in self.running.items():
            code = run.process.poll()
            if code is None or self.stopping:
                continue
            if run.backoff_until == 0.0:
                # Quick crash loops back off; a process that ran a while restarts at once.
                if now - run.started > STABLE_AFTER:
                    run.restarts, delay = 0, 0.0
                else:
                    delay = min(RESTART_BACKOFF_MAX, 2**run.restarts * 0.5)
                run.backoff_until = now + delay
                log.warning("%s exited with %s; restarting in %.1fs", name, code, delay)
                if run.restarts + 1 == CRASH_LOOP:
                    log.error("%s keeps crashing (%d times in a row, each within %.0f s of its start); "
                              "its own output above says why", name, CRASH_LOOP, STABLE_AFTER)
            if now >= run.backoff_until:
                run.process = self._spawn(run.spec)
                run.started, run.backoff_until = now, 0.0
                run.restarts += 1

    # ---- signals -----------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """Ctrl-C, SIGTERM and SIGHUP (the terminal closed) all ask for the warm stop; a second
        one while stopping forces it: everything is killed at once."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.received.append(signum)
        if self._stopping_warm and not self.forced:
            # raised in the middle of stop()'s waits, which catches it; never anywhere else
            self.forced = True
            raise ForceStop

    @property
    def signalled(self) -> bool:
        return bool(self.received)

    def run_until_signalled(self) -> None:
        self.install_signal_handlers()
        while not self.received:
            self.poll_once()
            time.sleep(0.2)
        log.info("shutting down (warm): waiting for running work to finish; "
                 "press Ctrl-C again to stop at once")
        self.stop()

    def stop(self) -> None:
        """SIGTERM in reverse start order, each given its grace, then SIGKILL; ``stop_last`` ones
        after. A second signal meanwhile (ForceStop, from the handler) kills the rest at once."""
        self.stopping = True
        try:
            self._stopping_warm = True
            if len(self.received) > 1:  # the second came before we started stopping
                raise ForceStop
            self._stop_in_waves()
        except ForceStop:
            self.forced = True
            log.warning("forced stop: killing every process now")
            self._kill_all()
        finally:
            self._stopping_warm = False

    def _stop_in_waves(self) -> None:
        runs = list(reversed(list(self.running.values())))
        for wave in ([r for r in runs if not r.spec.stop_last], [r for r in runs if r.spec.stop_last]):
            for run in wave:
                if run.process.poll() is None:
                    run.process.send_signal(signal.SIGTERM)
            for run in wave:
                try:
                    run.process.wait(timeout=run.spec.stop_grace)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %.0fs; killing", run.spec.name, run.spec.stop_grace)
                    _kill_group(run.process)

    def _kill_all(self) -> None:
        for run in self.running.values():
            _kill_group(run.process)


class ForceStop(Exception):
    """A second stop signal arrived during the warm stop."""


#: what stops `claw up` warm: Ctrl-C, `kill`, and the terminal going away
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _kill_group(process: Child) -> None:
    """SIGKILL a process and everything in its session's process group, and reap it (each
    child leads a session of its own: Popen's start_new_session, or setsid after a fork)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()

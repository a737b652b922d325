"""A small process supervisor for `claw up`: start, restart on crash, stop warm.

Why not honcho or circus: honcho stops the whole tree when one process exits (we want a killed
worker restarted, the chaos tests rely on it), and circus brings ZeroMQ and a daemon of its own.
What we need fits here: restart with backoff, and an ordered warm shutdown in which Celery
workers get SIGTERM (their warm shutdown: running turns finish) and time to finish.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from claw.runtime.lifeline import die_with_parent

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX = 10.0
#: a process that ran this long before exiting is restarted at once, its crash count forgotten
STABLE_AFTER = 30.0


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


@dataclass
class _Running:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    started: float
    restarts: int = 0
    backoff_until: float = 0.0


@dataclass
class Supervisor:
    specs: list[ProcessSpec]
    running: dict[str, _Running] = field(default_factory=dict)
    stopping: bool = False

    def _spawn(self, spec: ProcessSpec) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C in the terminal reaches only us, and we stop children
        # in order instead of all at once.
        # The kernel ends it if we are SIGKILLed (claw/runtime/lifeline.py).
        return subprocess.Popen(
            list(spec.argv), env=spec.env or os.environ.copy(), start_new_session=True,
            preexec_fn=die_with_parent(spec.orphan_signal),
        )

    def adopt(self, spec: ProcessSpec, process: subprocess.Popen[bytes]) -> None:
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
            if now >= run.backoff_until:
                run.process = self._spawn(run.spec)
                run.started, run.backoff_until = now, 0.0
                run.restarts += 1

    def run_until_signalled(self) -> None:
        received: list[int] = []

        def on_signal(signum: int, _frame: object) -> None:
            received.append(signum)

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not received:
            self.poll_once()
            time.sleep(0.2)
        log.info("shutting down (warm): waiting for running work to finish")
        self.stop()

    def stop(self) -> None:
        """SIGTERM in reverse start order, each given its grace, then SIGKILL; ``stop_last`` ones after."""
        self.stopping = True
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
                    os.killpg(run.process.pid, signal.SIGKILL)
                    run.process.wait()

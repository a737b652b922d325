"""The fault script: the plan's faults, applied at their times, each one written down.

Worker kills aim where a kill hurts: at a shard whose turn process is waiting on a model call
right now, preferably one made after a tool step of the same turn (an effect is done, the reply
is not: the window in which a redone turn could repeat the effect). The fake model knows which
client ports wait on it; psutil says which process owns that port. With no such call in time, a
shard is picked from the seed. Kills alternate between the worker's main process and its pool
child (the plan says which); a shard worker of `claw up` is one process that runs its turns
(claw/runtime/solo_pool.py), so both kill that process.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

import psutil

from claw.chaos.fakes.bridge import ChaosBridge
from claw.chaos.fakes.model import ScriptedModel
from claw.chaos.plan import REDIS_DOWN_SECONDS, ChaosPlan, FaultEvent, FaultKind
from claw.chaos.stack import ChaosStack

log = logging.getLogger(__name__)

#: how long a beat kill waits for a beat process that is being restarted
BEAT_WAIT_SECONDS = 15.0

#: how long a kill waits for a shard to be mid-turn before it picks one from the seed
AIM_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class AppliedFault:
    at: float  #: seconds after traffic started, when it struck
    kind: FaultKind
    detail: str
    ok: bool = True


class FaultScript:
    def __init__(self, plan: ChaosPlan, stack: ChaosStack, bridge: ChaosBridge,
                 model: ScriptedModel) -> None:
        self.plan = plan
        self.stack = stack
        self.bridge = bridge
        self.model = model
        self.applied: list[AppliedFault] = []
        self._rng = random.Random(f"{plan.options.seed}:targets")
        self._started = 0.0

    def run(self, started: float, stop: threading.Event) -> None:
        """Apply every fault at its time (later if an earlier one took long); returns when done."""
        self._started = started
        for event in self.plan.faults:
            if stop.wait(max(0.0, started + event.at - time.monotonic())):
                return
            at = time.monotonic() - started
            try:
                detail = self._apply(event)
                ok = True
            except Exception as exc:  # a fault that could not be applied is reported, not fatal
                detail, ok = f"could not apply: {type(exc).__name__}: {exc}", False
            self.applied.append(AppliedFault(at, event.kind, detail, ok))
            log.info("chaos_fault kind=%r ok=%s %s", str(event.kind), ok, detail)
        if self.bridge.send_down:  # never leave the bridge down, whatever happened above
            self.bridge.send_down = False

    def _apply(self, event: FaultEvent) -> str:
        kind = event.kind
        if kind in (FaultKind.KILL_WORKER_MAIN, FaultKind.KILL_WORKER_CHILD):
            return self._kill_worker(main=kind == FaultKind.KILL_WORKER_MAIN)
        if kind == FaultKind.KILL_REDIS:
            pid = self.stack.kill_redis()
            time.sleep(REDIS_DOWN_SECONDS)
            self.stack.start_redis()
            return f"pid={pid} down {REDIS_DOWN_SECONDS:g}s, restarted on its AOF"
        if kind == FaultKind.KILL_BEAT:
            # beat may be between a death and its restart (Redis was just killed, `claw up`
            # restarts it with a backoff): wait for it rather than skip the fault
            deadline = time.monotonic() + BEAT_WAIT_SECONDS
            while (beat := self.stack.beat()) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if beat is None:
                raise RuntimeError("no beat process under `claw up`")
            beat.kill()
            return f"pid={beat.pid}"
        if kind == FaultKind.BRIDGE_DOWN:
            self.bridge.send_down = True
            return f"/send answers 503 for {self.plan.options.bridge_down:g}s"
        self.bridge.send_down = False
        return f"/send back after refusing {self.bridge.refused_sends} sends"

    def _kill_worker(self, *, main: bool) -> str:
        shard, why = self._aim()
        target = self.stack.worker_main(shard) if main else self.stack.pool_child(shard)
        if target is None:
            raise RuntimeError(f"shard{shard} has no {'worker' if main else 'pool child'} process")
        target.kill()
        return f"shard{shard} pid={target.pid} ({why})"

    def _aim(self) -> tuple[int, str]:
        """The shard to kill, and why that one: for the first half of the aiming time only a
        call made after a tool step will do, then any call in flight, then the seed's pick."""
        deadline = time.monotonic() + AIM_SECONDS
        fallback: tuple[int, str] | None = None
        while time.monotonic() < deadline:
            waiting = self.model.calls_in_flight()
            for shard in range(self.stack.shards):
                for port in self._ports(shard):
                    call = waiting.get(port)
                    if call is None:
                        continue
                    why = f"mid-turn {call.turn_key}, after {call.step} tool step(s)"
                    if call.step > 0:
                        return shard, why
                    fallback = fallback or (shard, why)
            if fallback and time.monotonic() > deadline - AIM_SECONDS / 2:
                return fallback
            time.sleep(0.1)
        if fallback:
            return fallback
        return self._rng.randrange(self.stack.shards), "no shard mid-turn: picked by the seed"

    def _ports(self, shard: int) -> list[int]:
        child = self.stack.pool_child(shard)
        if child is None:
            return []
        try:
            return [c.laddr.port for c in child.net_connections(kind="tcp") if c.laddr]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return []

"""One chaos run, start to end: fakes and stack up, traffic and faults at once, drain, count.

The drain clock starts when the last message is written and the last fault applied; it stops
when claw owes nothing (every message answered and every reply sent, every bridge message
fetched). A short settle after that lets a late duplicate (a redelivered task, a resent reply)
land before the count, so the count does not flatter the stack.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path

from claw.chaos.fakes.bridge import ChaosBridge
from claw.chaos.fakes.model import ScriptedModel
from claw.chaos.faults import FaultScript
from claw.chaos.plan import ChaosOptions, make_plan
from claw.chaos.report import ChaosReport
from claw.chaos.stack import LLM_TIMEOUT_SECONDS, ChaosStack
from claw.chaos.tally import count, is_drained
from claw.chaos.traffic import Traffic

log = logging.getLogger(__name__)

#: seconds to keep watching after the drain, for late duplicates
SETTLE_SECONDS = 10.0
#: the fake model's hang: past the stack's model timeout, so the client gives up first
HANG_SECONDS = LLM_TIMEOUT_SECONDS + 1.5


def run_chaos(options: ChaosOptions, home: Path | None = None) -> ChaosReport:
    """Run the plan against a fresh stack. ``home`` is kept afterwards; a temporary one is not."""
    plan = make_plan(options)
    began = time.monotonic()
    keep = home is not None
    home = home or Path(tempfile.mkdtemp(prefix="claw-chaos-"))
    model = ScriptedModel(seed=options.seed, failure_rate=options.failure_rate,
                          hang_seconds=HANG_SECONDS).start()
    bridge = ChaosBridge().start()
    stack = ChaosStack(home, shards=options.shards, model_url=model.url, bridge_url=bridge.url)
    stop = threading.Event()
    try:
        stack.start()
        traffic = Traffic(plan, stack, bridge)
        faults = FaultScript(plan, stack, bridge, model)
        started = time.monotonic()
        log.info("chaos_traffic_start messages=%d groups=%d faults=%d home=%s",
                 len(plan.messages), len(plan.groups), len(plan.faults), home)
        fault_thread = threading.Thread(target=faults.run, args=(started, stop), name="chaos-faults")
        fault_thread.start()
        traffic.run(started, stop)
        fault_thread.join()
        drain_seconds = wait_drained(stack, traffic, options.drain_timeout)
        if drain_seconds is not None:
            time.sleep(SETTLE_SECONDS)
        tally = count(plan, stack, bridge, model, traffic)
        return ChaosReport(plan, tally, faults.applied, model.stats, bridge.refused_sends,
                           traffic.api_retries, drain_seconds, time.monotonic() - began)
    finally:
        stop.set()
        stack.stop()
        model.stop()
        bridge.stop()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def wait_drained(stack: ChaosStack, traffic: Traffic, timeout: float) -> float | None:
    """Seconds until claw owes nothing, or None if it still does after ``timeout``."""
    quiet_from = time.monotonic()
    while time.monotonic() - quiet_from < timeout:
        if is_drained(stack, traffic):
            seconds = time.monotonic() - quiet_from
            log.info("chaos_drained seconds=%.1f", seconds)
            return seconds
        time.sleep(1.0)
    log.warning("chaos_not_drained timeout=%.0f", timeout)
    return None

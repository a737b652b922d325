"""`claw bench scheduler`: how long a tick's due scan takes with many schedules.

A fresh database (SQLite in a temporary directory unless a URL is given) gets ``schedules``
schedules spread over the next 30 days, ``due`` of them due now; the scan is timed as a tick
runs it (a read session and the due query), then the due runs are fired once.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from claw.bench.report import percentile
from claw.db import read_session, write_session
from claw.db.migrate import upgrade
from claw.db.models import Group, Schedule, utcnow
from claw.scheduler import due_runs, fire_due

#: what the issue asks of a due scan
DUE_SCAN_TARGET_MS = 20.0
SCHEDULES_PER_GROUP = 100


@dataclass(frozen=True)
class SchedulerBench:
    database: str
    schedules: int
    due: int
    found: int  #: due runs the scan returned
    scan_ms: list[float]
    fired: int
    fire_ms: float
    setup_s: float


def _fill(url: str, schedules: int, due: int) -> None:
    now = utcnow()
    rng = random.Random(6)
    groups = max(1, schedules // SCHEDULES_PER_GROUP)
    with write_session(url) as session:
        session.execute(insert(Group), [
            {"id": f"http:bench{g}", "channel": "http", "chat_id": f"bench{g}", "priority": False,
             "is_main": False, "settings": {}, "last_processed_id": 0, "created_at": now}
            for g in range(groups)])
        rows = []
        for n in range(schedules):
            # the due ones a little in the past, the rest over the next 30 days
            offset = -rng.uniform(1, 50) if n < due else rng.uniform(60, 30 * 86400)
            rows.append({"group_id": f"http:bench{n % groups}", "kind": "reminder", "spec": "every 1 day",
                         "timezone": "UTC", "next_run": now + timedelta(seconds=offset), "enabled": True,
                         "created_by": "bench", "created_at": now, "run_count": 0,
                         "payload": {"text": f"reminder {n}"}})
            if len(rows) == 10_000:
                session.execute(insert(Schedule), rows)
                rows = []
        if rows:
            session.execute(insert(Schedule), rows)


def run_scheduler_bench(*, schedules: int, due: int, runs: int, database_url: str | None = None) -> SchedulerBench:
    with tempfile.TemporaryDirectory(prefix="claw-bench-scheduler-") as directory:
        url = database_url or f"sqlite:///{Path(directory) / 'bench.db'}"
        started = time.perf_counter()
        upgrade(url)
        _fill(url, schedules, due)
        setup = time.perf_counter() - started
        timings, found = [], 0
        for _ in range(runs):
            begin = time.perf_counter()
            with read_session(url) as session:
                found = len(due_runs(session, utcnow(), 500))
            timings.append((time.perf_counter() - begin) * 1000)
        begin = time.perf_counter()
        fired = len(fire_due(utcnow(), limit=500, database_url=url))
        fire_ms = (time.perf_counter() - begin) * 1000
        name = url.split(":", 1)[0].split("+", 1)[0]
        return SchedulerBench(name, schedules, due, found, timings, fired, fire_ms, setup)


def render_scheduler(bench: SchedulerBench) -> str:
    p50, p99 = percentile(bench.scan_ms, 50), percentile(bench.scan_ms, 99)
    met = "met" if p99 <= DUE_SCAN_TARGET_MS else "MISSED"
    return "\n".join([
        f"claw bench scheduler: {bench.schedules} schedules ({bench.due} due) on {bench.database}, "
        f"set up in {bench.setup_s:.1f} s",
        f"due scan    p50 {p50:.2f} ms   p99 {p99:.2f} ms   over {len(bench.scan_ms)} scans, "
        f"{bench.found} due found   target p99 <= {DUE_SCAN_TARGET_MS:g} ms: {met}",
        f"fire        {bench.fired} due runs claimed and written in {bench.fire_ms:.1f} ms "
        f"({bench.fire_ms / max(1, bench.fired):.2f} ms each)",
    ])

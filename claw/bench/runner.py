"""One bench run: one private Redis, the raw baseline on db 1, then claw on db 0.

The sides run one after the other, never together, so each has the whole machine; they share
the Redis server (and its settings, AOF included) so that Redis is not what differs.
"""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import redis

from claw.bench.baseline import measure_raw
from claw.bench.errors import BenchError
from claw.bench.pipeline import measure_claw
from claw.bench.processes import free_port
from claw.bench.report import BenchReport, Machine
from claw.runtime.redis_server import RedisServerError, start_redis, stop_redis

log = logging.getLogger(__name__)

#: Redis databases of the two sides, so their queues and keys never mix
CLAW_DB = 0
RAW_DB = 1


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    messages: int = 1000  #: messages in claw's throughput burst
    groups: int = 20  #: groups the messages are spread over
    samples: int = 200  #: sequential round trips per side for p50/p99
    chains: int = 1000  #: raw chains in flight for the baseline's throughput
    shards: int = 3  #: claw's shard workers (DESIGN.md default)
    raw_workers: int = 2  #: plain Celery worker processes of the baseline

    def check(self) -> None:
        for name in ("messages", "groups", "samples", "chains", "shards", "raw_workers"):
            if getattr(self, name) < 1:
                raise BenchError(f"--{name.replace('_', '-')} must be at least 1")


@contextmanager
def _sigterm_runs_cleanup() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while the bench runs.

    Python's default SIGTERM ends the process without running ``finally`` blocks, and the
    processes we start live in sessions of their own, so they would outlive us: `claw up`,
    its workers and the raw workers would keep consuming from a Redis nobody stops.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def private_redis(root: Path) -> Iterator[int]:
    """A redis-server of the bench's own on a free port, stopped afterwards: its port."""
    port = free_port()
    try:
        server = start_redis(root, port)
    except RedisServerError as exc:
        raise BenchError(str(exc)) from None
    try:
        yield port
    finally:
        stop_redis(server)


def run_bench(options: BenchOptions) -> BenchReport:
    """Measure both sides; raise BenchError if either could not be measured."""
    options.check()
    with _sigterm_runs_cleanup(), tempfile.TemporaryDirectory(prefix="claw-bench-") as tmp:
        root = Path(tmp)
        with private_redis(root) as port:
            client = redis.Redis(port=port)
            version = str(client.info("server")["redis_version"])
            client.close()
            base = f"redis://127.0.0.1:{port}"
            log.info("bench_redis port=%d version=%s", port, version)
            raw = measure_raw(
                root / "raw", f"{base}/{RAW_DB}",
                workers=options.raw_workers, samples=options.samples, chains=options.chains,
            )
            claw = measure_claw(
                root / "claw", f"{base}/{CLAW_DB}", shards=options.shards,
                messages=options.messages, groups=options.groups, samples=options.samples,
            )
    return BenchReport(machine=Machine.here(version), claw=claw, raw=raw)

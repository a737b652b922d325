"""Measuring the baseline: raw a→b→c chains on plain Celery workers, on the bench Redis.

The workers run ``-P solo`` so each one is a single process doing one task at a time, the
closest plain-Celery analogue of claw's single-concurrency shard workers.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

from claw.bench import raw_chain
from claw.bench.errors import BenchError
from claw.bench.processes import log_tail, stop_process, wait_for
from claw.bench.report import SideResult

log = logging.getLogger(__name__)

WORKER_START_TIMEOUT = 60.0
ROUND_TRIP_TIMEOUT = 30.0
WARMUP = 20


def _start_worker(index: int, redis_url: str, workdir: Path) -> subprocess.Popen[bytes]:
    logfile = (workdir / f"raw{index}.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "claw.bench.raw_chain",
            "-b", redis_url, "--result-backend", redis_url,
            "worker", "-P", "solo", "-n", f"raw{index}@%h", "-Q", raw_chain.QUEUE,
            "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle", "-l", "WARNING",
        ],
        stdout=logfile, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True,
    )


def _wait_ready(workers: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    def all_pong() -> bool:
        for index, worker in enumerate(workers):
            if worker.poll() is not None:
                raise BenchError(f"raw worker {index} exited:\n{log_tail(workdir / f'raw{index}.log')}")
        replies = raw_chain.app.control.ping(timeout=0.5)
        names = {name for reply in replies for name in reply}
        return sum(name.startswith("raw") for name in names) >= len(workers)

    wait_for(all_pong, timeout=WORKER_START_TIMEOUT, what="the raw Celery workers to answer ping")


def _round_trip() -> float:
    started = time.perf_counter()
    value = raw_chain.send_chain().get(timeout=ROUND_TRIP_TIMEOUT)
    elapsed = time.perf_counter() - started
    if value != raw_chain.CHAIN_RESULT:
        raise BenchError(f"a raw chain returned {value!r}, expected {raw_chain.CHAIN_RESULT}")
    return elapsed * 1000


def _throughput(chains: int) -> float:
    """All chains queued at once; the clock stops when the last result is in."""
    deadline_budget = 60 + chains * 0.05
    started = time.perf_counter()
    results = [raw_chain.send_chain() for _ in range(chains)]
    for result in results:
        remaining = deadline_budget - (time.perf_counter() - started)
        if remaining <= 0:
            raise BenchError(f"raw chains did not finish within {deadline_budget:.0f}s")
        result.get(timeout=remaining)
    return chains / (time.perf_counter() - started)


def measure_raw(workdir: Path, redis_url: str, *, workers: int, samples: int, chains: int) -> SideResult:
    """Start the raw workers, measure sequential latency then throughput, stop the workers."""
    workdir.mkdir(parents=True, exist_ok=True)
    raw_chain.configure(redis_url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes = [_start_worker(i, redis_url, workdir) for i in range(workers)]
        _wait_ready(processes, workdir)
        log.info("bench_raw_ready workers=%d", workers)
        for _ in range(WARMUP):
            _round_trip()
        latencies = [_round_trip() for _ in range(samples)]
        log.info("bench_raw_latency samples=%d", samples)
        rate = _throughput(chains)
        log.info("bench_raw_throughput chains=%d rate=%.1f", chains, rate)
    finally:
        for index, process in enumerate(processes):
            stop_process(process, name=f"raw{index}", grace=10)
        raw_chain.app.close()
    return SideResult(
        name="raw",
        throughput=rate,
        unit="chains/s",
        latencies_ms=latencies,
        workers=f"{workers} workers (-P solo), 3 task hops per chain",
        notes=[
            f"{chains} chains queued at once; latency: {samples} sequential "
            f"chain().apply_async().get() after {WARMUP} warm-up"
        ],
    )

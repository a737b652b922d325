"""`claw bench footprint`: the memory of every process of a running stack, as PSS.

RSS counts a page shared by N processes N times (the interpreter, libraries mapped by every
worker, a prefork pool's copy-on-write pages), so summing RSS overstates a stack by half; PSS
charges each shared page 1/N to each sharer, so the sum is what the stack really costs.

The stack is the real `claw up` (its own Redis included) in a throwaway home, measured once
it is healthy and every shard has answered messages (a worker that never ran a turn has not
touched what a turn uses yet), then again with one more shard: the difference is what an added
shard costs. The messages are sent at once, to as many groups as twice the shards, with a
simulated model latency, so that balanced routing (claw.pipeline.routing) spreads them over
every shard: sent one after the other, each would go to the first idle shard.

Every process below `claw up` is counted, however deep: the fork server and the Celery
processes it forks (claw/runtime/forkserver.py), the prefork pool processes, the API, Redis.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from claw.bench.errors import BenchError
from claw.bench.processes import free_port, log_tail, process_name, stop_process, wait_for

log = logging.getLogger(__name__)

STACK_TARGET_MB = 450.0  #: 3 shards and Flower
SHARD_TARGET_MB = 40.0  #: each added shard
MB = 1024 * 1024
#: the offline model's latency in the measured stack: turns overlap, so groups spread over shards
EXERCISE_LATENCY_MS = 500


@dataclass(frozen=True)
class ProcessMemory:
    name: str
    pid: int
    pss_mb: float
    rss_mb: float


@dataclass(frozen=True)
class Footprint:
    shards: int
    flower: bool
    processes: list[ProcessMemory]

    @property
    def pss_mb(self) -> float:
        return sum(p.pss_mb for p in self.processes)

    @property
    def rss_mb(self) -> float:
        return sum(p.rss_mb for p in self.processes)


def measure_tree(root: int) -> list[ProcessMemory]:
    found = []
    top = psutil.Process(root)
    for process in [top, *top.children(recursive=True)]:
        try:
            info = process.memory_full_info()
            found.append(ProcessMemory(process_name(process, root), process.pid, info.pss / MB, info.rss / MB))
        except psutil.Error:
            continue  # ended meanwhile (a sandbox run): not part of the standing stack
    return sorted(found, key=lambda p: p.name)


class _Stack:
    """`claw up` with its own Redis (as a user runs it), offline model, in ``home``."""

    def __init__(self, home: Path, *, shards: int, flower: bool) -> None:
        self.home, self.shards, self.flower = home, shards, flower
        self.api_port = free_port()
        self.token = secrets.token_urlsafe(24)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
        inherited.pop("ANTHROPIC_API_KEY", None)
        self.env = {**inherited, "CLAW_HOME": str(home), "CLAW_WORKSPACE": str(home / "workspace"),
                    "CLAW_API_TOKEN": self.token, "CLAW_LLM": "offline", "CLAW_COOLDOWN": "0",
                    "CLAW_OFFLINE_LATENCY_MS": str(EXERCISE_LATENCY_MS),
                    "CLAW_REDIS_PORT": str(free_port()), "CLAW_FLOWER_PORT": str(free_port())}
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "claw.cli", "up", "--api-port", str(self.api_port),
                "--shards", str(self.shards), *([] if self.flower else ["--no-flower"])]
        with (self.home / "claw-up.log").open("ab") as logfile:
            self.process = subprocess.Popen(argv, env=self.env, stdout=logfile, stderr=subprocess.STDOUT,
                                            cwd=self.home, start_new_session=True)
        wait_for(self._healthy, timeout=120, what="`claw up` to become healthy", every=0.3)

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise BenchError(f"`claw up` exited early:\n{log_tail(self.home / 'claw-up.log')}")
        try:
            body = httpx.get(f"{self.base_url}/healthz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        workers = body.get("workers", [])
        return (body.get("status") == "ok" and bool(body.get("beat"))
                and len([w for w in workers if w.startswith("shard")]) == self.shards)

    def exercise(self) -> None:
        """Messages to twice as many groups as shards, at once, so every shard runs turns."""
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=70) as http:

            def send(n: int) -> None:
                response = http.post("/v1/messages", params={"wait": 60},
                                     json={"chat_id": f"footprint-{n}", "text": "hi", "sender": "bench"})
                if response.status_code != 200:
                    raise BenchError(f"no reply in the footprint stack: {response.status_code} {response.text}")

            with ThreadPoolExecutor(self.shards * 2) as pool:
                list(pool.map(send, range(self.shards * 2)))
        # each turn's process logs a line on `claw up`'s console (claw.pipeline.turns)
        ran = set(re.findall(r"turn_began group=\S+ pid=(\d+)", (self.home / "claw-up.log").read_text()))
        if len(ran) < self.shards:
            log.warning("footprint_exercise_uneven shards=%d processes_that_ran_turns=%d: the idle "
                        "ones are measured before their first turn", self.shards, len(ran))

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, name="claw up", grace=60)
            self.process = None


def measure_footprint(home: Path, *, shards: int, flower: bool, settle: float = 2.0) -> Footprint:
    stack = _Stack(home, shards=shards, flower=flower)
    try:
        stack.start()
        stack.exercise()
        time.sleep(settle)  # let pool processes that answered settle (freed pages returned)
        assert stack.process is not None
        return Footprint(shards, flower, measure_tree(stack.process.pid))
    finally:
        stack.stop()


def run_footprint_bench(*, shards: int = 3, flower: bool = True) -> tuple[Footprint, Footprint]:
    with tempfile.TemporaryDirectory(prefix="claw-bench-footprint-") as tmp:
        base = measure_footprint(Path(tmp) / "a", shards=shards, flower=flower)
        more = measure_footprint(Path(tmp) / "b", shards=shards + 1, flower=flower)
    return base, more


def render_footprint(base: Footprint, more: Footprint) -> str:
    lines = [f"claw bench footprint: `claw up` with {base.shards} shards"
             f"{' and Flower' if base.flower else ''}, once every shard has answered messages"]
    lines.append(f"  {'process':<24}{'pid':>8}{'PSS MB':>10}{'RSS MB':>10}")
    for p in base.processes:
        lines.append(f"  {p.name:<24}{p.pid:>8}{p.pss_mb:>10.1f}{p.rss_mb:>10.1f}")
    met = "met" if base.pss_mb <= STACK_TARGET_MB else "MISSED"
    lines.append(f"  {'total':<32}{base.pss_mb:>10.1f}{base.rss_mb:>10.1f}   "
                 f"target PSS <= {STACK_TARGET_MB:g} MB: {met}")
    added = more.pss_mb - base.pss_mb
    met = "met" if added <= SHARD_TARGET_MB else "MISSED"
    lines.append(f"with {more.shards} shards: {more.pss_mb:.1f} MB PSS; one more shard costs {added:.1f} MB "
                 f"PSS   target <= {SHARD_TARGET_MB:g} MB: {met}")
    return "\n".join(lines)

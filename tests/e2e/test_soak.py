"""Soak and chaos (slow; `make test-slow`): many groups writing for a while, shard worker
processes killed at random throughout, and still every message answered once, in order."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack

pytestmark = pytest.mark.slow

SHARDS = 3
GROUPS = [f"soak{n}" for n in range(10)]
PER_GROUP = 30
KILL_EVERY = 3.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(tmp_path_factory.mktemp("claw"), redis_server.url, shards=SHARDS,
                     cooldown=0.2, offline_latency_ms=100, lease_seconds=3) as claw:
        yield claw


def test_exactly_once_and_in_order_while_workers_keep_dying(stack: ClawStack) -> None:
    stop = threading.Event()
    kills: list[int] = []

    def chaos() -> None:
        rng = random.Random(7)
        while not stop.wait(KILL_EVERY):
            # the shard worker runs its turns itself (claw/runtime/solo_pool.py)
            try:
                worker = stack.worker_process(rng.randrange(SHARDS))
                worker.send_signal(signal.SIGKILL)
                kills.append(worker.pid)
            except (psutil.NoSuchProcess, AssertionError):  # between a death and its restart
                pass

    def post_group(group: str) -> None:
        for i in range(PER_GROUP):
            assert stack.post(group, f"{group}-{i}", sender="s").status_code == 202
            time.sleep(random.Random(group).uniform(0.05, 0.5))

    killer = threading.Thread(target=chaos, daemon=True)
    killer.start()
    try:
        with ThreadPoolExecutor(len(GROUPS)) as pool:
            list(pool.map(post_group, GROUPS))
        for group in GROUPS:
            stack.wait_answered(f"http:{group}", PER_GROUP, timeout=180)
    finally:
        stop.set()
        killer.join()
    assert len(kills) >= 3
    for group in GROUPS:
        # the chat replies; a killed turn also tells the group once (a notice, not an answer)
        replies = [m["text"] for m in stack.messages(f"http:{group}")
                   if m["role"] == "assistant" and m["kind"] == "chat"]
        lines = [line for reply in replies for line in reply.splitlines()]
        assert lines == [f"s: {group}-{i}" for i in range(PER_GROUP)]

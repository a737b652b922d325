"""Measuring claw end to end through its HTTP API, as a user's system would push messages.

Latency is the sequential round trip of ``POST /v1/messages?wait=``. Throughput is a burst
of messages over many groups, finished when the database says every one of them is answered
and its reply sent. claw coalesces the messages a group receives while a turn runs into the
next turn (its design), so the bench reports how many turns the burst took, too.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from claw.bench.processes import wait_for
from claw.bench.report import SideResult
from claw.bench.stack import BenchStack
from claw.bench.stages import Sample, epoch, read_only, stage_breakdown
from claw.pipeline.routing import group_id_for
from claw.runtime.stack import IO_CONCURRENCY

log = logging.getLogger(__name__)

WAIT_SECONDS = 30
WARMUP = 20
#: concurrent HTTP clients of the burst, each with its own connection
POSTERS = 16
LATENCY_PREFIX = "bench-lat-"
BURST_PREFIX = "bench-burst-"


def _body(chat_id: str, text: str) -> dict[str, str]:
    return {"chat_id": chat_id, "text": text, "sender": "bench"}


def _latency(stack: BenchStack, samples: int, groups: int) -> tuple[list[float], list[Sample], int]:
    """Sequential round trips, rotating over ``groups`` groups; timeouts count at their length."""
    latencies: list[float] = []
    matched: list[Sample] = []
    timeouts = 0
    with httpx.Client(base_url=stack.base_url, headers=stack.headers, timeout=WAIT_SECONDS + 10) as http:
        for i in range(WARMUP + samples):
            sent = time.time()
            started = time.perf_counter()
            response = http.post(
                "/v1/messages", params={"wait": WAIT_SECONDS},
                json=_body(f"{LATENCY_PREFIX}{i % groups}", f"ping {i}"),
            )
            elapsed = time.perf_counter() - started
            if response.status_code not in (200, 202):
                raise stack.failure(f"POST /v1/messages answered {response.status_code}: {response.text}")
            if i < WARMUP:
                continue
            latencies.append(elapsed * 1000)
            if response.status_code == 200 and response.json().get("reply"):
                matched.append(Sample(response.json()["message_id"], sent, sent + elapsed))
            else:
                timeouts += 1
    return latencies, matched, timeouts


def _post_some(stack: BenchStack, indices: range, groups: int) -> None:
    with httpx.Client(base_url=stack.base_url, headers=stack.headers, timeout=30) as http:
        for i in indices:
            response = http.post("/v1/messages", json=_body(f"{BURST_PREFIX}{i % groups}", f"m{i}"))
            if response.status_code != 202:
                raise stack.failure(f"POST /v1/messages answered {response.status_code}: {response.text}")


def _burst_progress(db_path: Path) -> tuple[int, int, float | None]:
    """(user messages answered and sent, turns, when the last reply was marked sent)."""
    pattern = group_id_for("http", BURST_PREFIX) + "%"
    with read_only(db_path) as db:
        answered, last_sent = db.execute(
            "SELECT COUNT(*), MAX(o.sent_at) FROM messages m JOIN outbox o ON o.id = m.answered_by "
            "WHERE m.group_id LIKE ? AND m.role = 'user' AND o.status = 'sent'", (pattern,),
        ).fetchone()
        (turns,) = db.execute("SELECT COUNT(*) FROM outbox WHERE group_id LIKE ?", (pattern,)).fetchone()
    return answered, turns, epoch(last_sent)


def _throughput(stack: BenchStack, messages: int, groups: int) -> tuple[float, int, float]:
    """(messages/s from first POST to last reply sent, turns, seconds spent posting)."""
    chunks = [range(k, messages, POSTERS) for k in range(min(POSTERS, messages))]
    started = time.time()
    with ThreadPoolExecutor(len(chunks)) as pool:
        list(pool.map(lambda chunk: _post_some(stack, chunk, groups), chunks))
    posting = time.time() - started
    wait_for(
        lambda: _burst_progress(stack.db_path)[0] >= messages,
        timeout=60 + messages * 0.1, what=f"{messages} burst messages to be answered", every=0.05,
    )
    _, turns, last_sent = _burst_progress(stack.db_path)
    assert last_sent is not None
    return messages / max(last_sent - started, 1e-6), turns, posting


def measure_claw(home: Path, redis_url: str, *, shards: int, messages: int, groups: int,
                 samples: int) -> SideResult:
    """Start `claw up`, measure latency then throughput, stop it warm."""
    stack = BenchStack(home, redis_url, shards=shards)
    try:
        stack.start()
        latencies, matched, timeouts = _latency(stack, samples, groups)
        log.info("bench_claw_latency samples=%d timeouts=%d", samples, timeouts)
        rate, turns, posting = _throughput(stack, messages, groups)
        log.info("bench_claw_throughput messages=%d rate=%.1f turns=%d", messages, rate, turns)
        stages = stage_breakdown(stack.db_path, matched)
    finally:
        stack.stop()
    return SideResult(
        name="claw",
        throughput=rate,
        unit="msg/s",
        latencies_ms=latencies,
        workers=(f"{shards} shard workers (one process each, solo pool), io ({IO_CONCURRENCY} threads), "
                 "api (1 uvicorn), beat; 1 task hop per HTTP message"),
        notes=[
            f"{messages} messages over {groups} groups by {len(range(min(POSTERS, messages)))} "
            f"concurrent HTTP clients (posting took {posting:.2f}s), answered in {turns} turns",
            f"latency: {samples} sequential POST ?wait={WAIT_SECONDS} over {groups} groups after "
            f"{WARMUP} warm-up, {timeouts} without a reply; offline model, cooldown 0",
        ],
        stages=stages,
    )

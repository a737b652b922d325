"""`claw bench scale`: does claw answer N times faster with N shard workers?

Each run starts the real `claw up` with the offline model made to wait ``latency_ms`` per call
(the model's wait is I/O, so 16 single-concurrency workers fit on 2 cores). ``groups`` groups
then talk at once, each like a person: a message, wait for the reply (``POST ?wait=``), the next
message. A group never has two messages pending, so no turn answers two messages and every run
does the same number of turns, whatever its shard count (a burst would let one slow shard
coalesce more and flatter it). Afterwards the database must show every message answered exactly
once, each group's replies in the order of its messages: a run that loses, doubles or reorders
fails the bench instead of printing a figure.

Each run also prints the CPU a message costs in each process role (claw.bench.cpu): the figure
to work on, since the speed-up of 16 shards is mostly a question of whether 16 shards' messages
fit in the machine's CPU, and wall ratios move with whatever else runs on it. Per-message CPU
moves less, but not nothing: on two SMT vCPUs a busy machine makes the same work take more CPU
time (16 shard workers take about twice the CPU a turn that one quiet process takes).

Also measured in the same run: the database reads of a turn for one group with 1M stored
messages (claw.bench.history), and the same conversation load on SQLite and on PostgreSQL
with no model latency, where the database is what differs.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from claw.bench.cpu import CpuUse, cpu_between, render_cpu, take_snapshot
from claw.bench.errors import BenchError
from claw.bench.history import HistoryBench, run_history_bench
from claw.bench.runner import _sigterm_runs_cleanup, private_redis
from claw.bench.stack import BenchStack

log = logging.getLogger(__name__)

#: the issue's targets: speed-up over one shard
TARGETS = {4: 3.6, 16: 14.0}
WAIT_SECONDS = 60
SENDER = "bench"


@dataclass(frozen=True, kw_only=True)
class ScaleOptions:
    shards: tuple[int, ...] = (1, 4, 16)
    groups: int = 64  #: groups talking at once
    messages: int = 3  #: messages per group, each after the previous one's reply
    latency_ms: int = 300  #: the simulated model's wait per call
    history: int = 1_000_000  #: stored messages of the one group whose history is read (0: skip)
    databases: bool = True  #: run the database comparison (model latency 0) at all
    postgres: bool = True  #: also run the database comparison on a private PostgreSQL
    postgres_url: str | None = None  #: an empty PostgreSQL database to use instead

    def check(self) -> None:
        if not self.shards or min(self.shards) < 1:
            raise BenchError("--shards takes shard counts of at least 1, e.g. 1,4,16")
        for name in ("groups", "messages"):
            if getattr(self, name) < 1:
                raise BenchError(f"--{name} must be at least 1")
        if self.latency_ms < 0 or self.history < 0:
            raise BenchError("--latency-ms and --history cannot be negative")


@dataclass(frozen=True)
class ScaleRun:
    shards: int
    database: str
    latency_ms: int
    messages: int
    seconds: float
    load: float = 0.0  #: the machine's 1-minute load average at the end: other work skews the figure
    cpu: CpuUse | None = None  #: CPU seconds by process role during the conversations

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass
class ScaleReport:
    options: ScaleOptions
    runs: list[ScaleRun] = field(default_factory=list)
    databases: list[ScaleRun] = field(default_factory=list)
    history: HistoryBench | None = None
    notes: list[str] = field(default_factory=list)


def _client(base_url: str, headers: dict[str, str]) -> httpx.Client:
    """One group's HTTP client. Made before the clock starts: building one (its TLS context
    above all, even unused over plain HTTP) costs ~10 ms of CPU, which 64 groups would
    otherwise spend at the start of every run, on the same two cores as the stack."""
    return httpx.Client(base_url=base_url, headers=headers, timeout=WAIT_SECONDS + 10)


def _converse(http: httpx.Client, chat_id: str, messages: int) -> None:
    """One group's side of the conversation: each message waits for its own reply."""
    for n in range(messages):
        body = {"chat_id": chat_id, "text": f"{chat_id} m{n}", "sender": SENDER}
        response = http.post("/v1/messages", params={"wait": WAIT_SECONDS}, json=body)
        if response.status_code != 200:
            raise BenchError(f"{chat_id} m{n}: no reply within {WAIT_SECONDS}s "
                             f"({response.status_code}: {response.text[:200]})")


def _warm_up(clients: list[httpx.Client], shards: int) -> None:
    """One turn on every shard before the clock starts, as one would be on a stack that ran a
    while: a shard worker's first turn imports the agent and compiles its queries (about a
    second of CPU), which 16 shards would otherwise pay inside the measured window and one
    shard only once. Groups with work in flight go to the least-loaded live shard
    (claw.pipeline.routing), so ``shards`` groups talking at once reach every shard."""
    with ThreadPoolExecutor(shards) as pool:
        list(pool.map(lambda n: _converse(clients[n % len(clients)], f"warm-up-{n}", 1), range(shards)))


def _check_exactly_once_in_order(database_url: str, chats: list[str], messages: int) -> None:
    """Every message answered by exactly one reply, each group's replies in message order."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as db:
            for chat_id in chats:
                group_id = f"http:{chat_id}"
                unanswered = db.execute(text(
                    "SELECT COUNT(*) FROM messages WHERE group_id = :g AND role = 'user' "
                    "AND answered_by IS NULL"), {"g": group_id}).scalar_one()
                rows = db.execute(text(
                    "SELECT o.text FROM outbox o JOIN messages m ON m.id = o.message_id "
                    "WHERE o.group_id = :g AND m.kind = 'chat' AND o.status = 'sent' ORDER BY o.id"),
                    {"g": group_id}).scalars().all()
                lines = [line for reply in rows for line in reply.splitlines()]
                expected = [f"{SENDER}: {chat_id} m{n}" for n in range(messages)]
                if unanswered or lines != expected:
                    raise BenchError(f"{group_id}: {unanswered} unanswered; replies {lines!r}, "
                                     f"expected {expected!r}")
    finally:
        engine.dispose()


def _spread(redis_url: str) -> str:
    """How many groups each shard was assigned at the end of a run (should be ~0: all done)."""
    client = redis.Redis.from_url(redis_url)
    try:
        from claw.pipeline.routing import shard_loads

        return " ".join(f"{shard}:{load}" for shard, load in shard_loads(client).items())
    finally:
        client.close()


def _redis_pid(redis_url: str) -> int | None:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()


def measure_run(root: Path, redis_url: str, *, shards: int, options: ScaleOptions,
                latency_ms: int, database_url: str | None = None, label: str = "sqlite") -> ScaleRun:
    """Start `claw up` with ``shards`` shard workers, run the conversations, check, stop."""
    home = root / f"{label}-{shards}-{latency_ms}"
    database_url = database_url or f"sqlite:///{home / 'claw.db'}"
    stack = BenchStack(home, redis_url, shards=shards, settings={
        "CLAW_OFFLINE_LATENCY_MS": str(latency_ms),
        "CLAW_DATABASE_URL": database_url,
    })
    chats = [f"scale-{n}" for n in range(options.groups)]
    clients: list[httpx.Client] = []
    try:
        stack.start()
        clients = [_client(stack.base_url, stack.headers) for _ in chats]
        _warm_up(clients, shards)
        assert stack.process is not None
        redis_pid = _redis_pid(redis_url)
        before = take_snapshot(stack.process.pid, redis_pid=redis_pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(len(chats)) as pool:
            list(pool.map(lambda pair: _converse(pair[0], pair[1], options.messages),
                          zip(clients, chats, strict=True)))
        seconds = time.perf_counter() - started
        cpu = cpu_between(before, take_snapshot(stack.process.pid, redis_pid=redis_pid), wall=seconds)
        _check_exactly_once_in_order(database_url, chats, options.messages)
    except BenchError as exc:
        raise stack.failure(str(exc)) from None
    finally:
        for client in clients:
            client.close()
        stack.stop()
    run = ScaleRun(shards, label, latency_ms, len(chats) * options.messages, seconds,
                   os.getloadavg()[0], cpu)
    log.info("bench_scale_run shards=%d db=%s latency_ms=%d rate=%.1f loads=%s", shards, label,
             latency_ms, run.rate, _spread(redis_url))
    for line in render_cpu(cpu, run.messages, indent=""):
        log.info("bench_scale_cpu %s", line.strip())
    return run


def _flush(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()  # one run's shard registrations and assignments are not the next one's
    finally:
        client.close()


def run_scale_bench(options: ScaleOptions) -> ScaleReport:
    options.check()
    report = ScaleReport(options)
    with _sigterm_runs_cleanup(), tempfile.TemporaryDirectory(prefix="claw-bench-scale-") as tmp:
        root = Path(tmp)
        with private_redis(root) as port:
            redis_url = f"redis://127.0.0.1:{port}/0"
            for shards in options.shards:
                _flush(redis_url)
                report.runs.append(measure_run(root, redis_url, shards=shards, options=options,
                                               latency_ms=options.latency_ms))
            if options.databases:
                _run_databases(root, redis_url, options, report)
        if options.history:
            report.history = run_history_bench(root / "history", messages=options.history)
    return report


def _run_databases(root: Path, redis_url: str, options: ScaleOptions, report: ScaleReport) -> None:
    """The same load with no model latency on SQLite and, if asked, PostgreSQL."""
    db_shards = 4 if 4 in options.shards else max(options.shards)
    _flush(redis_url)
    report.databases.append(measure_run(root, redis_url, shards=db_shards, options=options,
                                        latency_ms=0))
    if options.postgres or options.postgres_url:
        _flush(redis_url)
        _postgres_run(root, redis_url, db_shards, options, report)


def _postgres_run(root: Path, redis_url: str, shards: int, options: ScaleOptions,
                  report: ScaleReport) -> None:
    from claw.bench.postgres import LocalPostgres, PostgresNotInstalled
    from claw.db.migrate import upgrade

    if options.postgres_url:
        upgrade(options.postgres_url)
        report.databases.append(measure_run(root, redis_url, shards=shards, options=options,
                                            latency_ms=0, database_url=options.postgres_url,
                                            label="postgresql"))
        return
    server = LocalPostgres()
    try:
        server.start()
    except (PostgresNotInstalled, RuntimeError) as exc:
        report.notes.append(f"PostgreSQL skipped: {exc}")
        return
    try:
        url = server.create_database("claw_bench")
        upgrade(url)
        report.databases.append(measure_run(root, redis_url, shards=shards, options=options,
                                            latency_ms=0, database_url=url, label="postgresql"))
    finally:
        server.stop()


def render_scale(report: ScaleReport) -> str:
    options = report.options
    lines = [
        f"claw bench scale: {options.groups} groups x {options.messages} messages, each message "
        f"sent after the previous reply; offline model {options.latency_ms} ms per call; "
        "every message answered exactly once, in order (checked)",
        f"machine: {os.cpu_count()} CPUs; 'load' is the 1-minute load average after each run "
        "(above the CPU count, other work shared the machine and the figures are low)",
    ]
    base = next((r for r in report.runs if r.shards == 1), None)
    for run in report.runs:
        speedup = run.rate / base.rate if base else float("nan")
        target = TARGETS.get(run.shards)
        verdict = "" if target is None else (
            f"   target >= {target:g}x: {'met' if speedup >= target else 'MISSED'}")
        lines.append(f"  {run.shards:>2} shard workers   {run.rate:7.1f} msg/s   {run.seconds:6.1f} s   "
                     f"x{speedup:5.2f}   load {run.load:4.1f}{verdict}")
        if run.cpu is not None:
            lines.extend(render_cpu(run.cpu, run.messages))
    if report.databases:
        lines.append(f"databases, {report.databases[0].shards} shard workers, model latency 0:")
        for run in report.databases:
            lines.append(f"  {run.database:<11} {run.rate:7.1f} msg/s   {run.seconds:6.1f} s   load {run.load:4.1f}")
            if run.cpu is not None:
                lines.extend(render_cpu(run.cpu, run.messages))
    if report.history is not None:
        h = report.history
        lines.append(
            f"history of one group with {h.stored:,} stored messages ({h.database}): "
            f"p50 {statistics.median(h.history_ms):.2f} ms  max {max(h.history_ms):.2f} ms "
            f"(last {h.limit} messages); pending read p50 {statistics.median(h.pending_ms):.2f} ms; "
            f"API page p50 {statistics.median(h.page_ms):.2f} ms   target <= 5 ms: "
            f"{'met' if statistics.median(h.history_ms) <= 5 else 'MISSED'}")
        lines.append(f"  query plan: {h.plan}")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)

"""Where one claw push->reply spends its time, read back from the timestamps claw stores.

Every message, turn and reply is stamped in the database (message.created_at, outbox
turn_started_at / created_at / sent_at), so the bench can split each round trip into stages
without instrumenting claw. Bench and stack share one machine and therefore one wall clock.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from claw.bench.report import percentile

STAGES = (
    "POST sent -> message stored (HTTP, API, write lock)",
    "stored -> turn started (enqueue, broker, shard worker)",
    "turn started -> reply row written (agent, commit)",
    "reply row -> marked sent (pull channels: at commit)",
    "marked sent -> 200 received (pub/sub, reply read, HTTP)",
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured round trip, in wall-clock seconds since the epoch."""

    message_id: int
    sent: float
    received: float


def epoch(value: str | None) -> float | None:
    """SQLite hands timestamps back as text without a zone; claw only stores UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def read_only(db_path: Path) -> sqlite3.Connection:
    """A read-only connection to claw's live database: it never takes claw's write lock."""
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)


def stage_breakdown(db_path: Path, samples: list[Sample]) -> list[tuple[str, float]]:
    """The p50 of each stage over ``samples``; empty when nothing could be matched."""
    by_id = {s.message_id: s for s in samples}
    if not by_id:
        return []
    marks = ",".join("?" * len(by_id))
    with read_only(db_path) as db:
        rows = db.execute(
            "SELECT m.id, m.created_at, o.turn_started_at, o.created_at, o.sent_at "
            f"FROM messages m JOIN outbox o ON o.id = m.answered_by WHERE m.id IN ({marks})",
            list(by_id),
        ).fetchall()
    durations: list[list[float]] = [[] for _ in STAGES]
    for message_id, *stamps in rows:
        sample = by_id[message_id]
        points = [sample.sent, *(epoch(s) for s in stamps), sample.received]
        if any(p is None for p in points):
            continue
        for index, (start, end) in enumerate(zip(points, points[1:])):
            durations[index].append((end - start) * 1000)  # type: ignore[operator]
    if not durations[0]:
        return []
    return [(name, percentile(values, 50)) for name, values in zip(STAGES, durations)]

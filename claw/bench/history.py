"""A turn's database reads for one group with a very long history (1M stored messages).

What a turn reads every time (claw.pipeline.turns): the group's pending messages and the last
``history_messages`` of its conversation; and the API's page of a group's messages. All three
must be index lookups (ix_messages_group_id_id, ix_messages_pending) that do not grow with
the group's history; the query plan is printed so a missing index shows.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from claw.db import Group, Message, read_session
from claw.db.migrate import upgrade
from claw.pipeline.turns import pending_messages, recent_history

GROUP = "http:history-bench"
RUNS = 200
LIMIT = 40
CHUNK = 50_000


@dataclass(frozen=True)
class HistoryBench:
    stored: int
    database: str
    limit: int
    history_ms: list[float]
    pending_ms: list[float]
    page_ms: list[float]
    plan: str


def _fill(db_path: Path, messages: int) -> None:
    """``messages`` answered chat messages of one group (and a few of another), fast: raw
    executemany in big transactions, as the pipeline's own writes would take hours."""
    now = datetime(2026, 1, 1, tzinfo=UTC).isoformat(sep=" ")
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA synchronous=OFF")
        for group in (GROUP, "http:neighbour"):
            db.execute("INSERT INTO groups (id, channel, chat_id, priority, is_main, settings, "
                       "last_processed_id, created_at) VALUES (?, 'http', ?, 0, 0, '{}', 0, ?)",
                       (group, group.removeprefix("http:"), now))
        for start in range(0, messages, CHUNK):
            rows = [
                (GROUP if n % 50 else "http:neighbour", "http", "history-bench",
                 "user" if n % 2 else "assistant", "chat", "alice", f"message {n}", now,
                 None if n % 2 == 0 else 1)
                for n in range(start, min(messages, start + CHUNK))
            ]
            db.executemany("INSERT INTO messages (group_id, channel, chat_id, role, kind, sender, text, "
                           "created_at, answered_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.commit()


def _timed(action: object) -> list[float]:
    timings = []
    for _ in range(RUNS):
        begin = time.perf_counter()
        action()  # type: ignore[operator]
        timings.append((time.perf_counter() - begin) * 1000)
    return timings


def run_history_bench(root: Path, *, messages: int) -> HistoryBench:
    root.mkdir(parents=True, exist_ok=True)
    db_path = root / "history.db"
    url = f"sqlite:///{db_path}"
    upgrade(url)
    _fill(db_path, messages)
    with read_session(url) as session:
        assert session.get(Group, GROUP) is not None
        newest = session.scalar(select(Message.id).order_by(Message.id.desc()).limit(1)) or 0
        history = _timed(lambda: recent_history(session, GROUP, newest + 1, LIMIT))
        pending = _timed(lambda: pending_messages(session, GROUP))
        page = _timed(lambda: list(session.scalars(
            select(Message).where(Message.group_id == GROUP, Message.id > newest - 10_000)
            .order_by(Message.id).limit(50))))
    with sqlite3.connect(db_path) as db:
        plan = "; ".join(row[-1] for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE group_id = ? AND id < ? AND kind = 'chat' "
            "AND set_aside_at IS NULL ORDER BY id DESC LIMIT 40", (GROUP, newest + 1)))
    return HistoryBench(messages, "sqlite", LIMIT, history, pending, page, plan)

"""claw.sweep itself: it re-queues a group that waits, and leaves alone a group whose turn holds
the lease or that backs off after a failure (its retry chain answers it). Real Redis (the
broker: what was queued) and a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from claw.db import write_session
from claw.db.models import utcnow
from claw.pipeline.failures import BACKOFF_KEY
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.lease import group_lease
from claw.tasks.sweep import sweep
from tests.pipeline.test_dispatch import queued
from tests.support.databases import as_default_database
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis


@pytest.fixture
def client(db_url: str, redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    with as_default_database(db_url, monkeypatch), as_default_redis(redis_server.url, monkeypatch) as client:
        with write_session() as session:
            for chat in ("free", "leased", "backing-off"):
                store_message(session, IncomingMessage("http", chat, "ann", "hello?", None,
                                                       utcnow() - timedelta(minutes=5)))
        yield client


def test_the_sweeper_queues_a_waiting_group_but_not_one_leased_or_backing_off(client: redis.Redis) -> None:
    # Given one group whose turn holds its lease, one backing off after a failed turn, one free
    client.set(BACKOFF_KEY.format(group_id="http:backing-off"), "retry-token", ex=60)
    with group_lease(client, "http:leased", 30):
        # When the sweeper runs
        result = sweep()
    # Then only the free group got a turn
    turns = [q.args for q in queued(client) if q.task == "claw.turn"]
    assert result["turns"] == 1 and len(turns) == 1 and "http:free" in turns[0], turns

"""claw.tasks.turn under a held lease: the lease alone keeps two turns of one group apart.

The shard queue and its single-concurrency worker serialise a group first, so the end-to-end
overlap test (tests/e2e/test_faults.py) passes without the lease; this one calls the task's
body in the test's process while the group's lease is held elsewhere (as by a second worker
on the same shard queue, a wrong deployment), so only the lease can stop the turn.
Real Redis and a real database; the offline model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from claw.db import Message, Outbox, read_session, write_session
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.lease import group_lease
from claw.pipeline.turns import TurnOutcome
from claw.tasks.turn import _turn
from tests.pipeline.test_dispatch import queued
from tests.support.databases import as_default_database
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis

GROUP = "http:team"


@pytest.fixture
def client(db_url: str, redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch,
           tmp_path: Path) -> Iterator[redis.Redis]:
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAW_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("CLAW_COOLDOWN", "0")  # without the lease the turn would answer at once
    monkeypatch.setenv("CLAW_SANDBOX", "subprocess")
    with as_default_database(db_url, monkeypatch), as_default_redis(redis_server.url, monkeypatch) as client:
        with write_session() as session:
            store_message(session, IncomingMessage("http", "team", "ann", "are you there?"))
        yield client


def test_a_turn_whose_group_lease_is_held_elsewhere_runs_nothing_and_comes_back(client: redis.Redis) -> None:
    # Given another turn of the group holding its lease
    with group_lease(client, GROUP, 30):
        # When a second turn of the group starts
        outcome = _turn(GROUP, None)
    # Then it runs nothing: no reply, the message still pending, and it queued itself again
    assert outcome == TurnOutcome.BUSY
    with read_session() as session:
        assert list(session.scalars(select(Outbox.id))) == []
        assert list(session.scalars(select(Message.answered_by).where(Message.role == "user"))) == [None]
    assert [q.task for q in queued(client)] == ["claw.turn"]

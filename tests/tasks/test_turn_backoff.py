"""claw.tasks.turn after a failed turn: the retry chain waits CLAW_LLM_RETRY_DELAY for a model
failure, doubling with each failure up to ten minutes, and CLAW_INTERRUPTED_RETRY_DELAY for a
killed turn; the group is told once. Real Redis (the broker: the retry turns queued, with their
time) and a real database (the notice)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import redis
from sqlalchemy import select

from claw.db import Message, read_session, write_session
from claw.pipeline.failures import Failure, FailureKind
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.turns import TurnOutcome, TurnResult
from claw.tasks.turn import _after_failure
from tests.pipeline.test_dispatch import queued
from tests.support.databases import as_default_database
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis

GROUP = "http:team"


@pytest.fixture
def client(db_url: str, redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    monkeypatch.setenv("CLAW_LLM_RETRY_DELAY", "30")
    monkeypatch.setenv("CLAW_INTERRUPTED_RETRY_DELAY", "2")
    monkeypatch.setenv("CLAW_TURN_MAX_ATTEMPTS", "100")
    with as_default_database(db_url, monkeypatch), as_default_redis(redis_server.url, monkeypatch) as client:
        with write_session() as session:
            newest = store_message(session, IncomingMessage("http", "team", "ann", "are you there?")).id
        client.set("newest", newest)
        yield client


def waits_of_retry_chain(client: redis.Redis, failure: Failure, times: int) -> list[float]:
    """Fail the group's turn ``times`` times; the seconds each queued retry turn waits."""
    waits = []
    for _ in range(times):
        before = datetime.now(timezone.utc)
        _after_failure(GROUP, False, "http", TurnResult(
            TurnOutcome.FAILED, newest_pending_id=int(client.get("newest") or 0), failure=failure))
        [retry] = [q for q in queued(client) if q.task == "claw.turn"]
        assert retry.eta is not None and "'retry':" in retry.kwargs
        waits.append((retry.eta - before).total_seconds())
        client.delete(*client.keys("claw.shard.*"))
    return waits


def test_a_model_failure_backs_off_from_the_llm_retry_delay_doubling_to_ten_minutes(client: redis.Redis) -> None:
    waits = waits_of_retry_chain(client, Failure(FailureKind.OUTAGE, "Claude is overloaded"), 7)
    # (computed times, not measured ones: the tolerance only covers this test's own run)
    assert waits == pytest.approx([30, 60, 120, 240, 480, 600, 600], abs=3)
    # And the group was told once


    with read_session() as session:
        notices = list(session.scalars(select(Message.text).where(Message.kind == "notice")))
    assert notices == ["Sorry, I can't reach the model right now (Claude is overloaded). Your message "
                       "is kept and I'll answer as soon as it's back."]


def test_a_killed_turn_backs_off_from_the_interrupted_retry_delay(client: redis.Redis) -> None:
    waits = waits_of_retry_chain(client, Failure(FailureKind.INTERRUPTED, "the process running it stopped"), 3)
    assert waits == pytest.approx([2, 4, 8], abs=1.5)

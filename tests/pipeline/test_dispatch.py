"""claw.pipeline.dispatch: what lands on which queue, as the workers would read it from the
real Redis broker (kombu's lists: a queue per priority step), and what is not sent at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
import redis
from kombu.exceptions import OperationalError

from claw.pipeline import dispatch
from claw.pipeline.dispatch import TURN_QUEUED_TTL, enqueue_send, enqueue_turn, turn_queued_key
from claw.pipeline.failures import BACKOFF_KEY
from claw.pipeline.routing import shard_queue
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis

SHARDS = 3
PRIORITY_SEPARATOR = "\x06\x16"  #: kombu's Redis transport: "<queue>\x06\x16<priority>" per step


@pytest.fixture
def client(redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    monkeypatch.setenv("CLAW_SHARDS", str(SHARDS))
    with as_default_redis(redis_server.url, monkeypatch) as client:
        yield client


@dataclass(frozen=True)
class Queued:
    queue: str
    priority: int
    task: str
    args: str
    kwargs: str
    eta: datetime | None


def queued(client: redis.Redis) -> list[Queued]:
    found = []
    for key in client.keys("claw.*"):
        if client.type(key) != b"list":
            continue
        queue, _, step = key.decode().partition(PRIORITY_SEPARATOR)
        for raw in client.lrange(key, 0, -1):
            headers = json.loads(raw)["headers"]
            eta = headers.get("eta")
            found.append(Queued(queue, int(step or 0), headers["task"], headers["argsrepr"],
                                headers["kwargsrepr"], datetime.fromisoformat(eta) if eta else None))
    return sorted(found, key=lambda q: (q.queue, q.args))


def test_a_turn_goes_to_its_groups_shard_queue_once_until_it_runs(client: redis.Redis) -> None:
    # When a group's turn is queued twice in a row (a burst of messages)
    assert enqueue_turn("http:team") is True
    assert enqueue_turn("http:team") is False
    # Then one turn waits on the group's shard queue, at normal priority, now
    assert queued(client) == [Queued(shard_queue("http:team", SHARDS), 6, "claw.turn", "['http:team']", "{}", None)]
    # And the "queued" marker that held back the second expires on its own
    assert 0 < client.ttl(turn_queued_key("http:team")) <= TURN_QUEUED_TTL
    # When the sweeper forces one more
    assert enqueue_turn("http:team", force=True) is True
    assert len(queued(client)) == 2


def test_groups_spread_over_the_shards_and_a_priority_group_jumps_the_queue(client: redis.Redis) -> None:
    groups = [f"http:g{n}" for n in range(12)]
    for group_id in groups:
        enqueue_turn(group_id, priority=group_id == "http:g0")
    on_queue = {q.args: (q.queue, q.priority) for q in queued(client)}
    assert on_queue == {f"['{g}']": (shard_queue(g, SHARDS), 0 if g == "http:g0" else 6) for g in groups}
    assert len({queue for queue, _ in on_queue.values()}) == SHARDS


def test_a_later_turn_carries_its_time(client: redis.Redis) -> None:
    before = datetime.now(timezone.utc)
    enqueue_turn("http:team", countdown=120)
    [turn] = queued(client)
    assert turn.eta is not None
    # (a computed time, not a measured one: the bounds only allow for this test's own run)
    assert 115 <= (turn.eta - before).total_seconds() <= 125


def test_during_a_backoff_only_the_retry_chain_queues_turns(client: redis.Redis) -> None:
    # Given a group backing off after a failure, its chain holding token "chain-1"
    client.set(BACKOFF_KEY.format(group_id="http:team"), "chain-1", ex=60)
    # Then a new message's turn, even a forced one (the sweeper), is not sent
    assert enqueue_turn("http:team") is False
    assert enqueue_turn("http:team", force=True) is False
    assert queued(client) == []
    # But the chain's own retry is, carrying its token, and marks nothing as queued
    assert enqueue_turn("http:team", retry="chain-1", countdown=30) is True
    [turn] = queued(client)
    assert (turn.task, turn.args, turn.kwargs) == ("claw.turn", "['http:team']", "{'retry': 'chain-1'}")
    assert turn.eta is not None
    assert not client.exists(turn_queued_key("http:team"))


def test_a_send_goes_to_the_io_queue(client: redis.Redis) -> None:
    before = datetime.now(timezone.utc)
    assert enqueue_send(41) is True
    assert enqueue_send(42, countdown=60) is True
    now, later = queued(client)
    assert (now.queue, now.task, now.args, now.eta) == ("claw.io", "claw.send", "[41]", None)
    assert (later.queue, later.task, later.args) == ("claw.io", "claw.send", "[42]")
    assert later.eta is not None and 55 <= (later.eta - before).total_seconds() <= 65


def test_redis_down_sends_nothing_and_raises_nothing(client: redis.Redis, redis_server: LocalRedis,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    redis_server.stop()
    try:
        assert enqueue_turn("http:team") is False
    finally:
        redis_server.start()
    assert "enqueue_turn_failed group=http:team error=ConnectionError" in caplog.messages



def test_a_send_the_broker_refuses_is_reported_not_raised(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a broker that refuses the task (stopping the test's Redis would also stall Celery's
    # result backend for 20 s of reconnects, so the refusal is kombu's own error)
    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(dispatch.app, "send_task", refuse)
    # When a reply's send is queued, Then the caller is told it was not (`claw outbox retry`
    # says so) rather than a crash; the sweeper queues it once the broker is back
    assert enqueue_send(41) is False
    # And the log names the reply left for the sweeper
    assert [m for m in caplog.messages if m.startswith("enqueue_send_failed")] == [
        "enqueue_send_failed outbox=41 error=OperationalError"]

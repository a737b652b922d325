"""claw.scheduler.tick.dispatch: what a fired run hands on, as read from the real broker (Redis):
a reminder on a push channel is queued for sending, a reminder on a pull channel is announced,
and an injected message (a task, a summary) queues its group's turn, ahead when the group has
priority."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from claw.config import get_settings
from claw.pipeline.routing import shard_queue
from claw.scheduler.tick import FiredRun, dispatch
from tests.pipeline.test_dispatch import queued
from tests.scheduler.conftest import T0
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis


@pytest.fixture
def client(redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    with as_default_redis(redis_server.url, monkeypatch) as client:
        yield client


def test_a_reminder_on_a_push_channel_is_queued_for_sending(client: redis.Redis) -> None:
    dispatch(FiredRun(1, "whatsapp:team@g.us", "reminder", T0, "whatsapp", False, outbox_id=7))
    assert [(q.queue, q.task, q.args) for q in queued(client)] == [("claw.io", "claw.send", "[7]")]


def test_a_reminder_on_a_pull_channel_is_announced_not_sent(client: redis.Redis) -> None:
    announced = client.pubsub(ignore_subscribe_messages=True)
    announced.subscribe("claw:replies:http:team")
    dispatch(FiredRun(1, "http:team", "reminder", T0, "http", False, outbox_id=8))
    messages = [announced.get_message(timeout=5) for _ in range(3)]
    announced.close()
    assert {"type": "message", "pattern": None, "channel": b"claw:replies:http:team", "data": b"8"} in messages
    assert queued(client) == []


@pytest.mark.parametrize("priority", [False, True])
def test_an_injected_message_queues_its_groups_turn(client: redis.Redis, priority: bool) -> None:
    dispatch(FiredRun(2, "http:team", "task", T0, "http", priority, message_id=9))
    [turn] = queued(client)
    assert (turn.queue, turn.task, turn.args, turn.priority) == (
        shard_queue("http:team", get_settings().shards), "claw.turn", "['http:team']", 0 if priority else 6)


def test_a_run_that_produced_nothing_hands_nothing_on(client: redis.Redis) -> None:
    dispatch(FiredRun(3, "http:team", "task", T0, "http", False))
    assert queued(client) == []

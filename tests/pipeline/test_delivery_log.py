"""claw.pipeline.delivery_log: every delivery, on a push or a pull channel, goes on the group's
log at the moment it is delivered, in order, and the log stays bounded.

A real database (SQLite and PostgreSQL), a real Redis and the fake WhatsApp bridge over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import update

from claw.channels.whatsapp import WhatsAppBridge
from claw.db import Outbox, write_session
from claw.pipeline.delivery import deliver_chat, send_reply
from claw.pipeline.delivery_log import LOG_MAXLEN, log_key, record_delivery, valid_entry_id
from claw.pipeline.inbox import ensure_group
from claw.pipeline.outbox import write_reply
from claw.redis_client import reply_channel
from tests.support.databases import as_default_database
from tests.support.fake_bridge import FakeBridge
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis


@pytest.fixture
def claw_redis(db_url: str, redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    with as_default_database(db_url, monkeypatch), as_default_redis(redis_server.url, monkeypatch) as client:
        yield client


@pytest.fixture
def bridge() -> Iterator[FakeBridge]:
    fake = FakeBridge().start()
    yield fake
    fake.stop()


def write(channel: str, chat: str, text: str) -> int:
    with write_session() as session:
        ensure_group(session, channel, chat)
        return write_reply(session, group_id=f"{channel}:{chat}", channel=channel, chat_id=chat, text=text).id


def logged(client: redis.Redis, group_id: str) -> list[int]:
    return [int(fields[b"outbox_id"]) for _, fields in client.xrange(log_key(group_id))]


def test_a_push_channel_reply_is_logged_when_it_goes_out_not_when_it_is_written(
    claw_redis: redis.Redis, bridge: FakeBridge
) -> None:
    # Given two replies written while the bridge refuses them
    group_id = "whatsapp:team@g.us"
    first, second = write("whatsapp", "team@g.us", "one"), write("whatsapp", "team@g.us", "two")
    bridge.refuse_sends = True
    deliver_chat(group_id, channel=WhatsAppBridge(bridge.url))
    # Then nothing is logged: nothing was delivered
    assert logged(claw_redis, group_id) == []

    # When the bridge takes them
    bridge.refuse_sends = False
    claw_redis.delete(f"claw:send-lock:{group_id}")
    with write_session() as session:  # as if the backoff were over
        session.execute(update(Outbox).values(next_attempt_at=None))
    pubsub = claw_redis.pubsub()
    pubsub.subscribe(reply_channel(group_id))
    pubsub.get_message(timeout=1)
    deliver_chat(group_id, channel=WhatsAppBridge(bridge.url))

    # Then both are logged, in the order they went out, and waiters are woken for each
    assert bridge.sent_to("team@g.us") == ["one", "two"]
    assert logged(claw_redis, group_id) == [first, second]
    woken = [pubsub.get_message(timeout=2) for _ in range(2)]
    assert [int(m["data"]) for m in woken if m] == [first, second]
    pubsub.close()
    # And the log goes away some days after the last delivery
    assert 0 < claw_redis.ttl(log_key(group_id)) <= 7 * 24 * 3600


def test_a_pull_channel_reply_is_logged_as_it_is_announced(claw_redis: redis.Redis) -> None:
    outbox_id = write("terminal", "desk", "hi")

    send_reply("terminal:desk", outbox_id, "terminal")

    assert logged(claw_redis, "terminal:desk") == [outbox_id]
    assert logged(claw_redis, "terminal:other") == []


def test_the_log_of_a_busy_group_stays_bounded(redis_server: LocalRedis) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.delete(log_key("http:busy"))
    pipe = client.pipeline(transaction=False)
    for outbox_id in range(1, 4 * LOG_MAXLEN + 1):
        record_delivery(pipe, "http:busy", outbox_id)
    pipe.execute()

    kept = logged(client, "http:busy")
    client.close()
    # trimmed approximately (Redis trims whole nodes), never below the bound, newest kept
    assert LOG_MAXLEN <= len(kept) < 2 * LOG_MAXLEN
    assert kept[-1] == 4 * LOG_MAXLEN


@pytest.mark.parametrize(("value", "valid"), [
    ("0", True), ("0-0", True), ("1764680004711-0", True), ("1764680004711", True),
    ("18446744073709551615-18446744073709551615", True),
    ("18446744073709551616-0", False), ("", False), ("abc", False), ("1-2-3", False), ("-1", False),
    ("1 ", False), ("$", False),
])
def test_only_stream_positions_are_accepted_as_event_ids(value: str, valid: bool) -> None:
    assert valid_entry_id(value) is valid

"""claw.pipeline.delivery: a chat's replies go out in order, one sender at a time, retried by time.

Real fake channel servers over HTTP (the WhatsApp bridge, the Bot API), a real database
(SQLite and PostgreSQL) and a real Redis for the chat's send lock.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from sqlalchemy import event, select, update

from claw import channels
from claw.channels import DeliveryError
from claw.channels.telegram import TelegramBot, split_text
from claw.channels.whatsapp import WhatsAppBridge
from claw.config import Settings, get_settings
from claw.db import Outbox, read_session, write_session
from claw.db.models import OutboxStatus
from claw.db.session import get_engine
from claw.faults import reset_fault_points
from claw.pipeline import delivery
from claw.pipeline.delivery import Delivery, deliver, deliver_chat, retry_delay, send_lock_key, send_reply
from claw.pipeline.inbox import ensure_group
from claw.pipeline.outbox import as_utc, retry, unsent_rows, write_reply
from claw.redis_client import get_redis, reply_channel
from tests.pipeline.test_dispatch import queued
from tests.support.databases import as_default_database
from tests.support.fake_bridge import FakeBridge
from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis

CHAT = "team@g.us"
GROUP = f"whatsapp:{CHAT}"
TG_CHAT = -100321


@pytest.fixture(scope="module")
def running_bridge() -> Iterator[FakeBridge]:
    fake = FakeBridge().start()
    yield fake
    fake.stop()


@pytest.fixture
def bridge(running_bridge: FakeBridge) -> FakeBridge:
    running_bridge.reset()
    return running_bridge


@pytest.fixture(scope="module")
def running_api() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture
def api(running_api: FakeTelegram) -> FakeTelegram:
    running_api.reset()
    return running_api


@pytest.fixture
def claw_redis(db_url: str, redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """The test's database and Redis are claw's; sends retry after 10 s, give up after 1 h."""
    monkeypatch.setenv("CLAW_SEND_RETRY_DELAY", "10")
    monkeypatch.setenv("CLAW_SEND_RETRY_MAX_DELAY", "60")
    monkeypatch.setenv("CLAW_SEND_GIVE_UP_AFTER", "1")
    with as_default_database(db_url, monkeypatch), as_default_redis(redis_server.url, monkeypatch) as client:
        yield client


def write(text: str, *, channel: str = "whatsapp", chat: str = CHAT) -> int:
    with write_session() as session:
        ensure_group(session, channel, chat)
        return write_reply(session, group_id=f"{channel}:{chat}", channel=channel, chat_id=chat,
                           text=text).id


def row(outbox_id: int) -> Outbox:
    with read_session() as session:
        found = session.get(Outbox, outbox_id)
        assert found is not None
        return found


def set_row(outbox_id: int, **values: object) -> None:
    with write_session() as session:
        session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def make_due(outbox_id: int) -> None:
    """As if the wait were over (the tests do not sleep through backoffs)."""
    set_row(outbox_id, next_attempt_at=datetime.now(timezone.utc) - timedelta(seconds=1))


def seconds_until(moment: datetime | None) -> float:
    assert moment is not None
    return (as_utc(moment) - datetime.now(timezone.utc)).total_seconds()


# ---- backoff, retry_after, giving up ----------------------------------------------------------


def test_the_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    settings = Settings(send_retry_delay=2, send_retry_max_delay=60)
    plain = DeliveryError("down")

    assert [retry_delay(n, plain, settings) for n in (1, 2, 3, 4, 5, 6, 50)] == [2, 4, 8, 16, 32, 60, 60]
    # the channel's own word wins, even above the cap
    assert retry_delay(1, DeliveryError("429", retry_after=90), settings) == 90
    # and an error that is not the channel's (a dropped connection, a bug) backs off alike
    assert retry_delay(3, ConnectionResetError("reset by peer"), settings) == 8


def test_a_failed_send_waits_out_its_backoff(
    claw_redis: redis.Redis, bridge: FakeBridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claw")
    # Given a bridge that refuses replies, and a reply
    bridge.refuse_sends = True
    outbox_id = write("hello")
    channel = WhatsAppBridge(bridge.url)
    announced = claw_redis.pubsub(ignore_subscribe_messages=True)
    announced.subscribe(reply_channel(GROUP))

    # When it is sent, it fails and its next attempt is set 10 s ahead
    result = deliver(outbox_id, channel=channel)
    assert (result.outcome, result.retry_in, result.head_id) == (Delivery.RETRY, 10, outbox_id)
    failed = row(outbox_id)
    assert failed.status == OutboxStatus.PENDING and failed.attempts == 1
    assert 8 < seconds_until(failed.next_attempt_at) <= 10
    # (`claw outbox` shows the error, named by its type)
    assert (failed.last_error or "").startswith("DeliveryError: ") and "HTTP 503" in failed.last_error  # type: ignore[operator]
    assert (f"send_failed outbox={outbox_id} group={GROUP} attempt=1 retry_in=10.0 error=DeliveryError"
            in caplog.messages)

    # When sends come again before then (a sweeper, a new reply), nothing is attempted
    for _ in range(3):
        assert deliver(outbox_id, channel=channel).outcome == Delivery.IDLE
    assert len(bridge.refused) == 1

    # When the wait is over and it fails again, the wait doubles
    make_due(outbox_id)
    assert deliver(outbox_id, channel=channel).retry_in == 20
    # And once the bridge takes replies, it goes out, once
    bridge.refuse_sends = False
    make_due(outbox_id)
    assert deliver(outbox_id, channel=channel).outcome == Delivery.SENT
    assert bridge.sent_to(CHAT) == ["hello"]
    assert (row(outbox_id).status, row(outbox_id).last_error) == (OutboxStatus.SENT, None)
    assert f"send_done outbox={outbox_id} group={GROUP} attempt=3 parts=1" in caplog.messages
    # And its delivery is announced to those waiting for the group's reply (POST ?wait=)
    messages = [announced.get_message(timeout=5) for _ in range(3)]  # (the first may be the
    assert {"type": "message", "pattern": None, "channel": reply_channel(GROUP).encode(),  # subscribe's)
            "data": str(outbox_id).encode()} in messages
    announced.close()


def test_telegrams_retry_after_is_honoured(claw_redis: redis.Redis, api: FakeTelegram) -> None:
    # Given Telegram answering 429 "retry after 37" (claw's own first wait is 10 s)
    api.refuse_sends, api.retry_after = True, 37
    outbox_id = write("hello", channel="telegram", chat=str(TG_CHAT))
    bot = TelegramBot(TOKEN, api_url=api.url)

    result = deliver(outbox_id, channel=bot)

    # Then the next attempt is exactly when Telegram said, and not before
    assert result.retry_in == 37
    assert 35 < seconds_until(row(outbox_id).next_attempt_at) <= 37
    assert deliver(outbox_id, channel=bot).outcome == Delivery.IDLE
    assert len(api.refused) == 1


def test_a_bridges_retry_after_header_is_honoured(claw_redis: redis.Redis, bridge: FakeBridge) -> None:
    bridge.refuse_sends, bridge.retry_after = True, 3
    outbox_id = write("hello")

    assert deliver(outbox_id, channel=WhatsAppBridge(bridge.url)).retry_in == 3


def test_retries_are_bounded_by_time_not_by_a_count(
    claw_redis: redis.Redis, bridge: FakeBridge, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a reply that failed 50 times over the last 59 minutes (CLAW_SEND_GIVE_UP_AFTER=1 h)
    bridge.refuse_sends = True
    outbox_id = write("first")
    later = write("second")
    now = datetime.now(timezone.utc)
    set_row(outbox_id, attempts=50, first_failed_at=now - timedelta(minutes=59))
    channel = WhatsAppBridge(bridge.url)

    # When it fails once more, it is still retried: a count never runs out
    assert deliver(outbox_id, channel=channel).outcome == Delivery.RETRY
    assert row(outbox_id).status == OutboxStatus.PENDING

    # When it fails after the hour is up, it is marked failed, and the chat goes on: the reply
    # behind it has waited as long, so it gets one attempt and is failed too
    set_row(outbox_id, first_failed_at=now - timedelta(minutes=61))
    make_due(outbox_id)
    result = deliver(outbox_id, channel=channel)
    assert result.failed == [outbox_id, later]
    assert (row(outbox_id).status, row(later).status) == (OutboxStatus.FAILED, OutboxStatus.FAILED)
    assert len(bridge.refused) == 3
    assert (f"send_gave_up outbox={outbox_id} group={GROUP} attempt=52 reason=time error=DeliveryError"
            in caplog.messages)

    # Then both stay visible, and a retry delivers them, in order, once the bridge is back
    with read_session() as session:
        assert [r.id for r in unsent_rows(session, GROUP)] == [outbox_id, later]
    bridge.refuse_sends = False
    with write_session() as session:
        assert retry(session, group_id=GROUP) == [outbox_id, later]
    assert deliver(later, channel=channel).sent == [outbox_id, later]
    assert bridge.sent_to(CHAT) == ["first", "second"]


def test_a_reply_the_channel_refuses_fails_at_once_and_the_chat_goes_on(
    claw_redis: redis.Redis, api: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a reply Telegram refuses for good (400: empty text), then a good one
    bad = write("   ", channel="telegram", chat=str(TG_CHAT))
    good = write("hello", channel="telegram", chat=str(TG_CHAT))

    result = deliver(bad, channel=TelegramBot(TOKEN, api_url=api.url))

    # Then the bad one is failed without waiting for hours, and the good one is delivered
    assert (result.outcome, result.failed, result.sent) == (Delivery.SENT, [bad], [good])
    assert row(bad).status == OutboxStatus.FAILED and "HTTP 400" in (row(bad).last_error or "")
    assert (f"send_gave_up outbox={bad} group=telegram:{TG_CHAT} attempt=1 reason=refused "
            "error=DeliveryError") in caplog.messages
    assert api.sent_to(TG_CHAT) == ["hello"]


# ---- split replies ------------------------------------------------------------------------------


def test_a_split_reply_resumes_at_the_part_not_delivered(claw_redis: redis.Redis, api: FakeTelegram) -> None:
    # Given a reply Telegram takes as three messages, and an outage after the first one
    text = "\n".join(f"line {i:03d}: " + "x" * 20 for i in range(300))
    parts = split_text(text)
    assert len(parts) == 3
    outbox_id = write(text, channel="telegram", chat=str(TG_CHAT))
    api.sends_before_outage = 1
    bot = TelegramBot(TOKEN, api_url=api.url)

    # When it is sent, the first part goes out and the second fails
    assert deliver(outbox_id, channel=bot).outcome == Delivery.RETRY
    assert (row(outbox_id).parts_sent, row(outbox_id).status) == (1, OutboxStatus.PENDING)

    # When Telegram is back and the retry is due
    api.sends_before_outage = None
    make_due(outbox_id)
    assert deliver(outbox_id, channel=bot).outcome == Delivery.SENT

    # Then the chat got each part once, in order: the first was not sent again
    assert api.sent_to(TG_CHAT) == parts
    assert row(outbox_id).parts_sent == 3


def test_each_part_of_a_split_reply_but_the_last_is_recorded_as_it_goes_out(
    claw_redis: redis.Redis, api: FakeTelegram
) -> None:
    # Given a reply of three parts and an outage after two of them
    text = "\n".join(f"line {i:03d}: " + "x" * 20 for i in range(300))
    outbox_id = write(text, channel="telegram", chat=str(TG_CHAT))
    api.sends_before_outage = 2
    # When it is sent, the progress of both parts that went out is kept
    assert deliver(outbox_id, channel=TelegramBot(TOKEN, api_url=api.url)).outcome == Delivery.RETRY
    assert row(outbox_id).parts_sent == 2


# ---- order and exclusion --------------------------------------------------------------------


def test_a_chats_replies_go_out_in_order_when_the_first_send_fails(
    claw_redis: redis.Redis, bridge: FakeBridge
) -> None:
    # Given a bridge refusing replies while three replies are written to one chat
    bridge.refuse_sends = True
    channel = WhatsAppBridge(bridge.url)
    first = write("one")
    assert deliver(first, channel=channel).outcome == Delivery.RETRY
    second, third = write("two"), write("three")

    # When the later replies' sends run, they neither overtake the first nor retry it early
    assert deliver(third, channel=channel).outcome == Delivery.IDLE
    assert deliver(second, channel=channel).outcome == Delivery.IDLE
    assert len(bridge.refused) == 1
    # And another chat is not held back
    elsewhere = write("other chat", chat="other@g.us")
    bridge.refuse_sends = False
    assert deliver(elsewhere, channel=channel).sent == [elsewhere]

    # When the first reply's retry is due, the chat's three replies go out in the order written
    make_due(first)
    assert deliver(first, channel=channel).sent == [first, second, third]
    assert bridge.sent_to(CHAT) == ["one", "two", "three"]


def test_two_sends_to_one_chat_never_run_at_once(claw_redis: redis.Redis, bridge: FakeBridge) -> None:
    # Given a slow bridge and six replies to one chat, each with its own send task
    bridge.send_delay = 0.2
    ids = [write(f"reply {n}") for n in range(6)]
    channel = WhatsAppBridge(bridge.url)
    outcomes: list[Delivery] = []

    # When the six sends run at the same time, as the io worker's threads would
    threads = [threading.Thread(target=lambda i=i: outcomes.append(deliver(i, channel=channel).outcome))
               for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Then the bridge never had two sends to the chat at once, and got each reply once, in order
    assert bridge.most_in_flight == 1
    assert bridge.sent_to(CHAT) == [f"reply {n}" for n in range(6)]
    assert Delivery.SENT in outcomes
    with read_session() as session:
        assert set(session.scalars(select(Outbox.status).where(Outbox.id.in_(ids)))) == {"sent"}


def test_a_send_leaves_a_chat_another_sender_holds(claw_redis: redis.Redis, bridge: FakeBridge) -> None:
    # Given another sender holding the chat's lock
    outbox_id = write("hello")
    held = claw_redis.lock(send_lock_key(GROUP), timeout=30)
    assert held.acquire(blocking=False)

    # Then a send waits a moment, then leaves the chat to it, sending nothing
    assert deliver_chat(GROUP, channel=WhatsAppBridge(bridge.url)).outcome == Delivery.BUSY
    assert bridge.sent == [] and row(outbox_id).status == OutboxStatus.PENDING
    held.release()


def test_a_pull_channels_reply_is_announced_and_a_push_channels_queued_for_sending(
    claw_redis: redis.Redis,
) -> None:
    announced = claw_redis.pubsub(ignore_subscribe_messages=True)
    announced.subscribe(reply_channel("http:team"))
    # When replies are committed on HTTP (read from the database) and on WhatsApp
    send_reply("http:team", 5, "http")
    send_reply(GROUP, 6, "whatsapp")
    # Then the HTTP one is announced to whoever waits for it, and only the WhatsApp one is sent
    messages = [announced.get_message(timeout=5) for _ in range(3)]
    assert {"type": "message", "pattern": None, "channel": b"claw:replies:http:team", "data": b"5"} in messages
    announced.close()
    assert [(q.queue, q.task, q.args) for q in queued(claw_redis)] == [("claw.io", "claw.send", "[6]")]
    assert send_lock_key(GROUP) == f"claw:send-lock:{GROUP}"


def test_an_announcement_redis_cannot_take_is_logged_and_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given claw's Redis is down (nothing listens on its port)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("CLAW_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    get_settings.cache_clear()
    get_redis.cache_clear()
    try:
        # When a reply on a pull channel is announced
        send_reply("http:team", 5, "http")
    finally:
        get_redis.cache_clear()
        get_settings.cache_clear()
    # Then the reply stays committed (waiters re-check the database) and the console says so
    assert "announce_failed outbox=5 group=http:team" in caplog.messages


DIE_WHILE_SENDING = """
from claw.pipeline.delivery import deliver_chat
deliver_chat("whatsapp:team@g.us")
"""


def test_a_sender_that_dies_lets_go_of_its_chat_within_seconds(
    claw_redis: redis.Redis, bridge: FakeBridge, db_url: str, redis_server: LocalRedis, tmp_path: Path
) -> None:
    # Given a sender (the io worker) killed as it delivers a chat's reply
    write("hello")
    env = {**os.environ, "CLAW_DATABASE_URL": db_url, "CLAW_REDIS_URL": redis_server.url,
           "CLAW_HOME": str(tmp_path), "CLAW_WHATSAPP_BRIDGE_URL": bridge.url,
           "CLAW_FAULT_POINTS": "send.before_part:kill"}
    died = subprocess.run([sys.executable, "-c", DIE_WHILE_SENDING], env=env, capture_output=True, timeout=60)
    assert died.returncode == -signal.SIGKILL

    # Then the chat's send lock it held expires within SEND_LOCK_TTL (10 s), not
    # CLAW_STUCK_SEND_SECONDS (60 s): the chat's later replies are not held up by a sender that
    # is gone
    left = claw_redis.pttl(send_lock_key(GROUP))
    assert 0 < left <= 10_000


def test_a_live_sender_keeps_its_chat_past_the_locks_ttl(
    claw_redis: redis.Redis, bridge: FakeBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a lock that would expire in 0.3 s, and a send that takes 3 s
    monkeypatch.setattr(delivery, "SEND_LOCK_TTL", 0.3)
    bridge.send_delay = 3.0
    write("slow")
    channel = WhatsAppBridge(bridge.url)
    first = threading.Thread(target=lambda: deliver_chat(GROUP, channel=channel))
    first.start()
    time.sleep(0.9)

    # Then a second sender, past the TTL (and waiting its second for the lock), finds the chat
    # still held and leaves it
    assert deliver_chat(GROUP, channel=channel).outcome == Delivery.BUSY
    first.join(30)
    assert bridge.sent_to(CHAT) == ["slow"]



def test_a_send_for_a_reply_that_is_not_there_is_idle_and_sends_nothing(
    claw_redis: redis.Redis, bridge: FakeBridge
) -> None:
    # (a send task for a row deleted since, e.g. with its group)
    result = deliver(999_999, channel=WhatsAppBridge(bridge.url))

    assert (result.outcome, result.sent, result.failed) == (Delivery.IDLE, [], [])
    assert bridge.sent == []


def test_one_run_sends_at_most_drain_limit_replies_and_says_more_are_waiting(
    claw_redis: redis.Redis, bridge: FakeBridge
) -> None:
    # Given a chat with one reply more than a send run delivers (DRAIN_LIMIT)
    ids = [write(f"reply {n}") for n in range(delivery.DRAIN_LIMIT + 1)]

    # When one run sends
    result = deliver(ids[0], channel=WhatsAppBridge(bridge.url))

    # Then it delivers the first DRAIN_LIMIT in order and says more are waiting (so another
    # run is queued), leaving the last one pending
    assert result.outcome == Delivery.MORE
    assert result.sent == ids[:-1]
    assert len(bridge.sent) == delivery.DRAIN_LIMIT
    assert row(ids[-1]).status == OutboxStatus.PENDING



def test_a_send_that_loses_the_claim_to_another_sender_leaves_the_reply_to_it(
    claw_redis: redis.Redis, bridge: FakeBridge
) -> None:
    # Given another sender claiming the chat's reply between this one's read of the head and
    # its claim. On PostgreSQL (read committed) another sender's committed claim gets in there;
    # SQLite's BEGIN IMMEDIATE shuts it out, so the competing claim is run on the sender's own
    # connection, right before its claim statement (on both databases, the same effect)
    outbox_id = write("hello")
    engine = get_engine(None)  # (the engine write_session uses: the cache tells () from (None,))
    raced: list[str] = []

    def claim_first(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not raced and statement.startswith("UPDATE outbox SET status="):
            raced.append(statement)
            cursor.execute(f"UPDATE outbox SET status = 'sending' WHERE id = {int(outbox_id)}")

    event.listen(engine, "before_cursor_execute", claim_first)
    try:
        result = deliver(outbox_id, channel=WhatsAppBridge(bridge.url))
    finally:
        event.remove(engine, "before_cursor_execute", claim_first)

    # Then this send is idle: it sends nothing and leaves the row as the other sender claimed it
    assert raced
    assert (result.outcome, result.sent, result.failed) == (Delivery.IDLE, [], [])
    assert bridge.sent == []
    assert (row(outbox_id).status, row(outbox_id).attempts) == (OutboxStatus.SENDING, 0)

# ---- a lost send lock ---------------------------------------------------------------------------


def take_the_lock(client: redis.Redis, group_id: str) -> None:
    """Another sender takes the chat's send lock (as after this one's expired unrenewed)."""
    client.set(send_lock_key(group_id), "another sender's token", px=30_000)


def test_a_sender_that_loses_its_lock_mid_reply_stops_before_the_next_part(
    claw_redis: redis.Redis, api: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a reply Telegram takes as three messages, and another sender taking the chat's lock
    # while the first part goes out
    text = "\n".join(f"line {i:03d}: " + "x" * 20 for i in range(300))
    outbox_id = write(text, channel="telegram", chat=str(TG_CHAT))
    group_id = f"telegram:{TG_CHAT}"
    api.while_sending = lambda payload: take_the_lock(claw_redis, group_id)

    # When it is sent
    result = deliver(outbox_id, channel=TelegramBot(TOKEN, api_url=api.url))

    # Then the sender stops after that part: it no longer owns the chat, so it sends no more of
    # it and marks nothing more; the row stays claimed with its progress (the sweeper resumes it)
    assert (result.outcome, result.sent, result.failed) == (Delivery.IDLE, [], [])
    assert len(api.sent_to(TG_CHAT)) == 1
    assert (row(outbox_id).status, row(outbox_id).parts_sent) == (OutboxStatus.SENDING, 1)
    # And the other sender's lock is left alone
    assert claw_redis.get(send_lock_key(group_id)) == b"another sender's token"
    # And the console's warning names the lock it lost
    assert f"send_lock_lost name={send_lock_key(group_id)}" in caplog.messages


def test_a_sender_that_loses_its_lock_on_a_replys_last_part_records_it_sent_and_stops(
    claw_redis: redis.Redis, bridge: FakeBridge
) -> None:
    # Given two replies to a chat, and another sender taking the chat's lock while the first
    # (its only part, so its last) goes out
    first, second = write("one"), write("two")
    bridge.while_sending = lambda payload: take_the_lock(claw_redis, GROUP)

    # When the chat is sent
    result = deliver(first, channel=WhatsAppBridge(bridge.url))

    # Then the reply that went out is recorded sent (not left claimed, to go out twice), and
    # the sender stops there, leaving the next reply to the lock's holder
    assert (result.outcome, result.sent) == (Delivery.SENT, [first])
    assert bridge.sent_to(CHAT) == ["one"]
    assert (row(first).status, row(first).parts_sent) == (OutboxStatus.SENT, 1)
    assert (row(second).status, row(second).attempts) == (OutboxStatus.PENDING, 0)


def test_the_lock_stays_renewed_while_the_next_reply_goes_out(
    claw_redis: redis.Redis, bridge: FakeBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a lock that would expire in 0.3 s, and two replies that take 0.9 s each to go out
    monkeypatch.setattr(delivery, "SEND_LOCK_TTL", 0.3)
    bridge.send_delay = 0.9
    write("one"), write("two")
    held_at_the_end_of_each_send: list[int] = []
    bridge.while_sending = lambda payload: held_at_the_end_of_each_send.append(
        claw_redis.exists(send_lock_key(GROUP)))

    # When the chat is sent
    assert deliver_chat(GROUP, channel=WhatsAppBridge(bridge.url)).outcome == Delivery.SENT

    # Then the lock was still held at the end of both sends: the progress after the first one
    # restarted its keeper's clock rather than stopping it
    assert held_at_the_end_of_each_send == [1, 1]
    assert bridge.sent_to(CHAT) == ["one", "two"]


# ---- the real channel lookup, the fault points --------------------------------------------------


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Set claw settings from the environment for one test (the settings and channels are cached)."""
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))

    def forget() -> None:
        get_settings.cache_clear()
        channels.channel_for.cache_clear()
        channels._whatsapp.cache_clear()
        reset_fault_points()

    forget()
    yield monkeypatch
    forget()


def test_a_send_without_a_given_channel_uses_the_groups_configured_one(
    claw_redis: redis.Redis, bridge: FakeBridge, configured: pytest.MonkeyPatch
) -> None:
    # Given the WhatsApp bridge configured, as the io worker has it
    configured.setenv("CLAW_WHATSAPP_BRIDGE_URL", bridge.url)
    get_settings.cache_clear()
    outbox_id = write("hello")
    # When the send task delivers (it passes no channel), the reply goes out through the bridge
    result = deliver(outbox_id)
    assert (result.sent, row(outbox_id).last_error) == ([outbox_id], None)
    assert bridge.sent_to(CHAT) == ["hello"]


@pytest.mark.parametrize("point", ["send.before_part", f"send.before_part@{GROUP}"])
def test_the_send_fault_points_sit_before_each_part(
    claw_redis: redis.Redis, bridge: FakeBridge, configured: pytest.MonkeyPatch, point: str
) -> None:
    # Given a fault at the send's named step (what the e2e kill tests use:
    # CLAW_FAULT_POINTS=send.before_part:kill)
    configured.setenv("CLAW_FAULT_POINTS", f"{point}:raise")
    get_settings.cache_clear()
    outbox_id = write("hello")

    # When the reply is sent, Then it fails there, before the part went out, and is retried later
    result = deliver(outbox_id, channel=WhatsAppBridge(bridge.url))
    assert result.outcome == Delivery.RETRY
    assert bridge.sent == []
    assert row(outbox_id).last_error == f"FaultInjected: {point}"

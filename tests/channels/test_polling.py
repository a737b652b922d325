"""claw.pipeline.polling with real channels: one bad item, or one broken channel, costs nothing else.

A real fake bridge and a real fake Bot API over HTTP, a real database (SQLite and PostgreSQL)
and a real Redis (the item counts behind /metrics, and the queued turns).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import select

from claw.channels import PollBatch
from claw.channels.telegram import TelegramBot
from claw.channels.whatsapp import WhatsAppBridge
from claw.db import Message, PollCursor, read_session
from claw.pipeline.inbox import IncomingMessage
from claw.pipeline.polling import poll_channel
from claw.tasks.poll import poll_each
from tests.support.databases import as_default_database
from tests.support.fake_bridge import FakeBridge
from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis

CHAT = "team@g.us"


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
    """The test's database and Redis are the ones claw's code uses."""
    with as_default_database(db_url, monkeypatch), as_default_redis(redis_server.url, monkeypatch) as client:
        yield client


def stored(group_id: str) -> list[tuple[str, str, str | None]]:
    with read_session() as session:
        rows = session.scalars(select(Message).where(Message.group_id == group_id).order_by(Message.id))
        return [(m.sender, m.text, m.external_id) for m in rows]


def cursor_of(channel: str) -> str | None:
    with read_session() as session:
        return session.scalar(select(PollCursor.cursor).where(PollCursor.channel == channel))


def metrics_text() -> str:
    from prometheus_client import generate_latest

    from claw.api.metrics import _registry

    return generate_latest(_registry).decode()


def test_a_bad_whatsapp_item_never_holds_back_the_page_or_the_cursor(
    claw_redis: redis.Redis, bridge: FakeBridge, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a page with a photo, a lone surrogate, NULs, items missing fields, one that is not
    # even an object, over-long fields, and a good message
    bridge.add_raw({"id": "w1", "chat_id": CHAT, "sender": "Ann", "type": "image"})
    bridge.add_raw({"id": "w2", "chat_id": CHAT, "sender": "Ben", "text": "half \ud83d a smile"})
    bridge.add_raw({"id": "w3", "chat_id": CHAT, "sender": "Cy\x00", "text": "nul\x00 inside"})
    bridge.add_raw({"id": "w4", "sender": "Dee", "text": "secret words, no chat"})
    bridge.add_raw({"chat_id": CHAT, "sender": "Eve", "text": "no id"})
    bridge.add_raw("not an object")
    bridge.add_raw({"id": "w7", "chat_id": CHAT, "sender": "F" * 400, "text": "y" * 40_000})
    bridge.add("team@g.us", "Gus", "a good message", "w8")
    caplog.set_level(logging.INFO, logger="claw")

    # When claw polls the bridge
    created = poll_channel(WhatsAppBridge(bridge.url))

    # Then every item that can be stored is, in order, the photo as a placeholder
    assert created == 5
    messages = stored(f"whatsapp:{CHAT}")
    assert [(sender[:3], text[:20], ext) for sender, text, ext in messages] == [
        ("Ann", "[photo]", "w1"),
        ("Ben", "half \ufffd a smile", "w2"),
        ("Cy", "nul inside", "w3"),
        ("FFF", "y" * 20, "w7"),
        ("Gus", "a good message", "w8"),
    ]
    # And the cursor moved past the whole page, so the next poll brings nothing again
    assert cursor_of("whatsapp") == "8"
    assert poll_channel(WhatsAppBridge(bridge.url)) == 0
    assert len(stored(f"whatsapp:{CHAT}")) == 5
    # And the group's turn is queued
    assert claw_redis.exists(f"claw:turn-queued:whatsapp:{CHAT}")
    # And each skipped item has a log line that says why without quoting it
    skipped = [r.getMessage() for r in caplog.records if "channel_item_skipped" in r.getMessage()]
    assert len(skipped) == 3
    assert any("reason=no_chat_id" in line and "w4" in line for line in skipped)
    levels = {r.getMessage().split(" item=")[0]: r.levelname for r in caplog.records
              if r.getMessage().startswith("channel_item_")}
    assert levels["channel_item_skipped channel=whatsapp reason=no_chat_id"] == "WARNING"
    assert levels["channel_item_cleaned channel=whatsapp reason=text"] == "INFO"
    assert not any("secret words" in r.getMessage() for r in caplog.records)
    # And /metrics counts what was skipped and what was repaired
    shown = metrics_text()
    for labels, count in [
        ('action="skipped",channel="whatsapp",reason="no_chat_id"', 1),
        ('action="skipped",channel="whatsapp",reason="no_id"', 1),
        ('action="skipped",channel="whatsapp",reason="malformed"', 1),
        ('action="placeholder",channel="whatsapp",reason="media:photo"', 1),
        ('action="cleaned",channel="whatsapp",reason="text"', 2),
        ('action="cut",channel="whatsapp",reason="text_too_long"', 1),
    ]:
        assert f"claw_channel_items_total{{{labels}}} {count}.0" in shown


def test_the_whatsapp_cursor_is_saved_and_the_next_poll_asks_the_bridge_from_it(
    claw_redis: redis.Redis, bridge: FakeBridge
) -> None:
    # Given two messages polled from the bridge
    bridge.add(CHAT, "Ann", "one", "w1")
    bridge.add(CHAT, "Ben", "two", "w2")
    assert poll_channel(WhatsAppBridge(bridge.url)) == 2
    # When a third arrives and the bridge is polled again
    bridge.add(CHAT, "Cy", "three", "w3")
    assert poll_channel(WhatsAppBridge(bridge.url)) == 1
    # Then the second poll asked only for what came after the first page (the key on external
    # ids would hide a cursor that never moves, but the bridge would send the whole history)
    assert bridge.asked_since == ["", "2"]
    assert cursor_of("whatsapp") == "3"


def test_a_bad_telegram_update_never_holds_back_the_page_or_the_offset(
    claw_redis: redis.Redis, api: FakeTelegram
) -> None:
    # Given a photo, a lone surrogate, a NUL, a message without its chat, and a good message
    chat = -100777
    api.add_message(chat, "Ann", None, photo=[{"file_id": "p"}])
    api.add_message(chat, "Ben", "broken \udc00 pair")
    api.add_message(chat, "Cid", "nul\x00")
    api.add_update("message", {"message_id": 99, "date": 1, "text": "no chat"})
    api.add_message(chat, "Dee", "all good")
    bot = TelegramBot(TOKEN, api_url=api.url)

    # When claw polls
    assert poll_channel(bot) == 4

    # Then the good and the repaired messages are stored, in order
    assert [text for _, text, _ in stored(f"telegram:{chat}")] == [
        "[photo]", "broken \ufffd pair", "nul", "all good"]
    # And the next poll confirms the whole page to Telegram, the broken update included
    assert poll_channel(bot) == 0
    assert api.updates == []
    assert 'claw_channel_items_total{action="skipped",channel="telegram",reason="malformed"} 1.0' in metrics_text()


class _Listed:
    """A channel adapter that hands over a page exactly as given (no item checks of its own)."""

    name = "whatsapp"

    def __init__(self, messages: list[IncomingMessage]) -> None:
        self.messages = messages

    def fetch(self, cursor: str) -> PollBatch:
        return PollBatch(self.messages, "next")

    def deliver(self, chat_id: str, text: str) -> None:
        raise NotImplementedError


def test_an_item_the_database_refuses_is_skipped_and_the_rest_stored(
    claw_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claw")
    # Given a page whose middle item cannot be stored (a text that is no text got past the checks)
    long_id = "d1" + "0" * 100
    page = [IncomingMessage("whatsapp", CHAT, "Ann", text, external_id)  # type: ignore[arg-type]
            for external_id, text in [("d0", "before"), (long_id, None), ("d2", "after")]]

    # When it is polled
    assert poll_channel(_Listed(page)) == 2  # type: ignore[arg-type]

    # Then the items around it are stored, the cursor moved, and the refusal counted
    assert [text for _, text, _ in stored(f"whatsapp:{CHAT}")] == ["before", "after"]
    assert cursor_of("whatsapp") == "next"
    assert claw_redis.hget("claw:channel-items", "whatsapp|skipped|unstorable") == b"1"
    # And logged with the item's id (its first 60 characters) and the kind of error, never its text
    [line] = [r.getMessage() for r in caplog.records if "unstorable" in r.getMessage()]
    assert line.startswith(f"channel_item_skipped channel=whatsapp reason=unstorable item=id='d1{'0' * 57} error=")
    assert line.split("error=")[1] in ("TypeError", "ValueError", "IntegrityError", "DataError")


class _Crashing(WhatsAppBridge):
    def fetch(self, cursor: str) -> PollBatch:
        raise RuntimeError("a bug in the WhatsApp adapter")


def test_one_channel_raising_never_stops_another_channels_poll(
    claw_redis: redis.Redis, bridge: FakeBridge, api: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    # Given WhatsApp failing in two ways (an unexpected exception, a garbage page) and Telegram
    # with a message waiting
    api.add_message(-100888, "Ann", "still here")
    bridge.mode = "garbage"
    telegram = TelegramBot(TOKEN, api_url=api.url)

    # When beat's poll runs over all channels, WhatsApp first
    counts = poll_each([_Crashing(bridge.url), WhatsAppBridge(bridge.url), telegram])  # type: ignore[list-item]

    # Then Telegram was polled and its message stored all the same
    assert counts == {"telegram": 1}
    assert [text for _, text, _ in stored("telegram:-100888")] == ["still here"]
    # And both WhatsApp failures were logged
    lines = [r.getMessage() for r in caplog.records]
    assert any("poll_crashed channel=whatsapp error=RuntimeError" in line for line in lines)
    assert any("poll_failed channel=whatsapp" in line for line in lines)


def test_the_tutorial_bridge_stores_each_message_once_and_never_its_own(
    claw_redis: redis.Redis, bridge: FakeBridge, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the tutorial's bridge (no ids, no cursor) with a message, the same words a minute
    # later, the bot's own reply, and a broken item between them
    bridge.shape = "tutorial"
    bridge.add_tutorial(CHAT, "Ann", "lunch?", timestamp=1_700_000_000)
    bridge.add_tutorial(CHAT, "claw", "Ann: lunch?", timestamp=1_700_000_001, is_from_me=True)
    bridge.add_tutorial(CHAT, "Ann", "no timestamp", timestamp=None)
    bridge.tutorial_inbox[-1].pop("timestamp")
    bridge.add_tutorial(CHAT, "Ann", "lunch?", timestamp=1_700_000_060)
    caplog.set_level(logging.DEBUG, logger="claw")

    # When claw polls, and the bridge then hands the whole page out again (a restart)
    assert poll_channel(WhatsAppBridge(bridge.url)) == 2
    bridge.hand_out_again(4)
    assert poll_channel(WhatsAppBridge(bridge.url)) == 0

    # Then each of Ann's messages is stored once, the bot's own reply never
    assert [(sender, text) for sender, text, _ in stored(f"whatsapp:{CHAT}")] == [
        ("Ann", "lunch?"), ("Ann", "lunch?")]
    assert claw_redis.exists(f"claw:turn-queued:whatsapp:{CHAT}")
    # And the broken item is a warning that names it by place; the own reply only a debug line
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if "channel_item_" in r.getMessage()]
    assert (logging.WARNING, "channel_item_skipped channel=whatsapp reason=no_id item=#2") in lines
    assert any(level == logging.DEBUG and "channel_item_ignored" in line and "from_me" in line
               for level, line in lines)
    # And the counts behind /metrics show both polls' own replies ignored
    assert claw_redis.hget("claw:channel-items", "whatsapp|ignored|from_me") == b"2"
    # And claw's cursor was left alone (this bridge has none)
    assert cursor_of("whatsapp") == ""

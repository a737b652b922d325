"""claw.pipeline.polling, the poll step itself: a page and the cursor past it are stored in one
transaction, the next poll asks from that cursor, and a page the database fails to store moves
nothing, so the next poll fetches it again and loses none of it.

A channel that hands over given pages (the adapters' own checks are tests/channels), a real
database (SQLite and PostgreSQL) whose storing is made to fail by a trigger, and a real Redis
(the queued turns).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from claw.channels import PollBatch
from claw.channels.items import ItemNote
from claw.config import get_settings
from claw.db import Group, Message, Outbox, PollCursor, read_session, write_session
from claw.pipeline import pairing
from claw.pipeline.inbox import IncomingMessage
from claw.pipeline.polling import poll_channel, record_notes
from claw.pipeline.routing import shard_queue
from tests.pipeline.test_dispatch import queued
from tests.support.databases import as_default_database
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis

CHAT = "team@g.us"
GROUP = f"whatsapp:{CHAT}"
REFUSED = "the database fails on this one"


@pytest.fixture
def claw_redis(db_url: str, redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """The test's database and Redis are the ones claw's code uses."""
    with as_default_database(db_url, monkeypatch), as_default_redis(redis_server.url, monkeypatch) as client:
        client.flushdb()
        yield client


class Pages:
    """A channel adapter that hands over one given page per poll and records the cursor it was
    asked from."""

    name = "whatsapp"

    def __init__(self, *pages: tuple[list[str], str]) -> None:
        self.pages = list(pages)
        self.asked: list[str] = []

    def fetch(self, cursor: str) -> PollBatch:
        self.asked.append(cursor)
        texts, next_cursor = self.pages[0]
        return PollBatch([IncomingMessage("whatsapp", CHAT, "Ann", t, f"id-{t}") for t in texts],
                         next_cursor)

    def turn_page(self) -> None:
        self.pages.pop(0)

    def deliver(self, chat_id: str, text: str) -> None:
        raise NotImplementedError


def stored_texts() -> list[str]:
    with read_session() as session:
        return list(session.scalars(select(Message.text).where(Message.group_id == GROUP).order_by(Message.id)))


def cursor() -> str | None:
    with read_session() as session:
        return session.scalar(select(PollCursor.cursor).where(PollCursor.channel == "whatsapp"))


def refuse_storing(db_url: str, on: bool) -> None:
    """A database that fails to store one message (as a full disk or a lost connection would):
    an error storing does not expect, unlike the values it refuses (DataError)."""
    with write_session(db_url) as session:
        if db_url.startswith("sqlite"):
            session.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text = :refused "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END".replace(":refused", f"'{REFUSED}'"))
                if on else text("DROP TRIGGER refuse"))
        elif on:
            session.execute(text(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.text = "
                f"'{REFUSED}' THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"))
            session.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse()"))
        else:
            session.execute(text("DROP TRIGGER refuse ON messages"))


def test_each_poll_stores_its_page_and_the_next_asks_from_the_cursor_after_it(claw_redis: redis.Redis) -> None:
    # Given a channel with two pages
    channel = Pages((["one", "two"], "c1"), (["three"], "c2"))

    # When it is polled
    assert poll_channel(channel) == 2  # type: ignore[arg-type]
    # Then the page is stored, the cursor saved past it, and the group's turn queued
    assert stored_texts() == ["one", "two"]
    assert cursor() == "c1"
    assert claw_redis.exists(f"claw:turn-queued:{GROUP}")

    # When it is polled again
    channel.turn_page()
    assert poll_channel(channel) == 1  # type: ignore[arg-type]
    # Then it was asked from the saved cursor, and the cursor moved on
    assert channel.asked == ["", "c1"]
    assert stored_texts() == ["one", "two", "three"]
    assert cursor() == "c2"


def test_a_page_the_database_fails_to_store_moves_nothing_and_is_fetched_again(
    claw_redis: redis.Redis, db_url: str
) -> None:
    # Given a first page stored, and a second one the database fails on in its middle
    channel = Pages((["one"], "c1"), (["two", REFUSED, "four"], "c2"))
    poll_channel(channel)  # type: ignore[arg-type]
    channel.turn_page()
    claw_redis.delete(f"claw:turn-queued:{GROUP}")
    refuse_storing(db_url, True)

    # When the second page is polled
    with pytest.raises(DBAPIError, match="disk on fire"):
        poll_channel(channel)  # type: ignore[arg-type]

    # Then none of it is stored, not even the message before the failure, the cursor did not
    # move past it, and no turn was queued
    assert stored_texts() == ["one"]
    assert cursor() == "c1"
    assert not claw_redis.exists(f"claw:turn-queued:{GROUP}")

    # When the database works again and the channel is polled
    refuse_storing(db_url, False)
    assert poll_channel(channel) == 3  # type: ignore[arg-type]

    # Then the same page was fetched again and all of it stored, in order
    assert channel.asked == ["", "c1", "c1"]
    assert stored_texts() == ["one", "two", REFUSED, "four"]
    assert cursor() == "c2"
    assert claw_redis.exists(f"claw:turn-queued:{GROUP}")


def test_a_priority_groups_polled_message_queues_its_turn_ahead(claw_redis: redis.Redis) -> None:
    # Given a priority group (its first message answered long ago)
    channel = Pages((["one"], "c1"), (["two"], "c2"))
    poll_channel(channel)  # type: ignore[arg-type]
    with write_session() as session:
        session.execute(update(Group).where(Group.id == GROUP).values(priority=True))
    claw_redis.flushdb()
    # When its next message is polled
    channel.turn_page()
    poll_channel(channel)  # type: ignore[arg-type]
    # Then its turn waits in the shard queue's first priority step (kombu: the bare list name)
    queue = shard_queue(GROUP, get_settings().shards)
    assert claw_redis.llen(queue) == 1
    assert [k for k in claw_redis.keys(f"{queue}*") if k != queue.encode()] == []


def test_counting_notes_with_redis_down_still_logs_them_and_raises_nothing(
    claw_redis: redis.Redis, redis_server: LocalRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="claw")
    redis_server.stop()
    try:
        record_notes([ItemNote("whatsapp", "skipped", "no_id", "id=None")])
    finally:
        redis_server.start()
    lines = [r.getMessage() for r in caplog.records]
    assert "channel_item_skipped channel=whatsapp reason=no_id item=id=None" in lines
    assert "channel_item_count_failed error=ConnectionError" in lines


def test_a_chat_claw_has_never_seen_gets_its_pairing_reply_sent_and_reaches_no_model(
    claw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pairing on (as claw ships), and a chat claw has never seen
    monkeypatch.setenv("CLAW_PAIRING", "on")
    get_settings.cache_clear()
    try:
        # When its first page is polled, and then its next one
        channel = Pages((["hello", "anyone there?"], "c1"), (["hello?"], "c2"))
        poll_channel(channel)  # type: ignore[arg-type]
        channel.turn_page()
        poll_channel(channel)  # type: ignore[arg-type]
    finally:
        get_settings.cache_clear()
    # Then the chat waits with one pairing code, named after its first message
    with read_session() as session:
        [(row, expired)] = pairing.waiting(session)
        notice = session.get(Outbox, row.notice_id)
    assert (row.group_id, row.first_sender, row.first_text, expired) == (GROUP, "Ann", "hello", False)
    assert notice is not None and notice.text == pairing.notice_text(row.code, get_settings().pairing_code_ttl)
    # And that one reply is queued for sending (a push channel), and no turn for the model
    assert [(q.queue, q.task, q.args) for q in queued(claw_redis)] == [("claw.io", "claw.send", f"[{notice.id}]")]
    # And every message is kept for when the owner approves, the reply in the chat's history
    assert stored_texts() == ["hello", notice.text, "anyone there?", "hello?"]

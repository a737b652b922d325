"""`claw outbox`: replies not delivered are listed, and failed ones are retried on request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import update
from typer.testing import CliRunner

from claw.cli import cli
from claw.db import Outbox, read_session, write_session
from claw.db.models import OutboxStatus
from claw.pipeline.inbox import ensure_group
from claw.pipeline.outbox import write_reply
from claw.pipeline.routing import IO_QUEUE
from tests.support.databases import as_default_database
from tests.support.redis_default import as_default_redis
from tests.support.redis_server import LocalRedis


@pytest.fixture
def claw_redis(db_url: str, redis_server: LocalRedis, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    monkeypatch.setenv("CLAW_HOME", str(tmp_path))
    with as_default_database(db_url, monkeypatch), as_default_redis(redis_server.url, monkeypatch) as client:
        yield client


def reply(chat: str, text: str, **values: object) -> int:
    with write_session() as session:
        ensure_group(session, "whatsapp", chat)
        outbox_id = write_reply(session, group_id=f"whatsapp:{chat}", channel="whatsapp",
                                chat_id=chat, text=text).id
        session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))
        return outbox_id


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["outbox", *args])
    return result.exit_code, result.output


def test_with_everything_delivered_it_says_so(claw_redis: redis.Redis) -> None:
    reply("a@g.us", "hi", status=OutboxStatus.SENT)

    assert run() == (0, "every reply is delivered\n")


def test_listing_an_unknown_group_says_so_and_exits_1(claw_redis: redis.Redis) -> None:
    reply("a@g.us", "hi", status=OutboxStatus.SENT)

    result = CliRunner().invoke(cli, ["outbox", "--group", "whatsapp:nobody"])

    assert (result.exit_code, result.stderr) == (1, "claw: unknown group 'whatsapp:nobody'\n")
    assert result.stdout == ""


def test_it_lists_failed_and_waiting_replies_of_all_groups_or_one(claw_redis: redis.Redis) -> None:
    # Given a failed reply in one chat, a reply waiting out a backoff in another, and a sent one
    failed = reply("a@g.us", "hi", status=OutboxStatus.FAILED, attempts=40,
                   last_error="DeliveryError: whatsapp bridge send: HTTP 503")
    waiting = reply("b@g.us", "yo", attempts=2, last_error="DeliveryError: timeout")
    reply("b@g.us", "sent", status=OutboxStatus.SENT)

    code, everything = run()
    _, one_group = run("list", "--group", "whatsapp:b@g.us")

    assert code == 0
    lines = everything.splitlines()[1:]
    assert len(lines) == 2
    assert lines[0].split()[:4] == [str(failed), "whatsapp:a@g.us", "failed", "40"]
    assert "HTTP 503" in lines[0]
    assert lines[1].split()[:5] == [str(waiting), "whatsapp:b@g.us", "pending", "2", "due"]
    assert [line.split()[0] for line in one_group.splitlines()[1:]] == [str(waiting)]


def test_retry_by_id_makes_a_failed_reply_due_and_queues_its_send(claw_redis: redis.Redis) -> None:
    failed = reply("a@g.us", "hi", status=OutboxStatus.FAILED, attempts=40, last_error="HTTP 503")

    code, output = run("retry", str(failed))

    assert code == 0
    assert output.strip() == f"1 reply due again ({failed}); sent now"
    with read_session() as session:
        row = session.get(Outbox, failed)
        assert row is not None and (row.status, row.attempts) == ("pending", 0)
    assert claw_redis.llen(IO_QUEUE) == 1  # the claw.send task, for the io worker


def test_retry_by_group_retries_all_of_its_failed_replies_only(claw_redis: redis.Redis) -> None:
    first = reply("a@g.us", "one", status=OutboxStatus.FAILED)
    second = reply("a@g.us", "two", status=OutboxStatus.FAILED)
    other = reply("b@g.us", "else", status=OutboxStatus.FAILED)

    code, output = run("retry", "--group", "whatsapp:a@g.us")

    assert code == 0 and f"2 replies due again ({first}, {second})" in output
    with read_session() as session:
        assert session.get(Outbox, other).status == "failed"  # type: ignore[union-attr]
    assert claw_redis.llen(IO_QUEUE) == 1  # one send per chat: it delivers the chat in order


@pytest.mark.parametrize("args, code, words", [
    ((), 2, "give a reply id or --group"),
    (("7", "--group", "whatsapp:a@g.us"), 2, "give a reply id or --group"),
    (("99999",), 1, "no failed or waiting reply with id 99999"),
    (("--group", "whatsapp:nobody"), 1, "no failed or waiting reply in whatsapp:nobody"),
])
def test_retry_says_what_is_wrong(claw_redis: redis.Redis, args: tuple[str, ...], code: int, words: str) -> None:
    result = CliRunner().invoke(cli, ["outbox", "retry", *args])

    assert result.exit_code == code
    assert words in result.output

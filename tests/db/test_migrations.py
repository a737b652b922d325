"""Migrations: the database they build is the one the models describe, on SQLite and PostgreSQL,
and 0007 (external ids unique per chat) keeps every stored message."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from claw.db.migrate import alembic_config, upgrade
from claw.db.models import Base
from claw.db.session import get_engine
from tests.support.postgres_server import LocalPostgres

BEFORE_0007 = "0007-1"  # relative, so it stays right when migrations are re-chained


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'claw.db'}"
        return
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name)
    yield url
    get_engine(url).dispose()
    server.drop_database(name)


def insert_message(url: str, chat_id: str, external_id: str) -> None:
    with get_engine(url).begin() as connection:
        group_id = f"telegram:{chat_id}"
        connection.execute(text(
            "INSERT INTO groups (id, channel, chat_id, priority, is_main, settings, last_processed_id,"
            " created_at) VALUES (:id, 'telegram', :chat, false, false, '{}', 0, CURRENT_TIMESTAMP)"
            " ON CONFLICT DO NOTHING"), {"id": group_id, "chat": chat_id})
        connection.execute(text(
            "INSERT INTO messages (group_id, channel, chat_id, external_id, role, sender, text, created_at)"
            " VALUES (:group, 'telegram', :chat, :external, 'user', 'alice', 'hi', CURRENT_TIMESTAMP)"),
            {"group": group_id, "chat": chat_id, "external": external_id})


def test_the_migrated_database_is_the_one_the_models_describe(blank_url: str) -> None:
    upgrade(blank_url)
    with get_engine(blank_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_0007_keeps_every_message_and_lets_two_chats_share_an_external_id(blank_url: str) -> None:
    # Given a database before 0007 with a stored message
    config = alembic_config(blank_url)
    command.upgrade(config, BEFORE_0007)
    insert_message(blank_url, "-100", "42")
    # When it is migrated
    upgrade(blank_url)
    # Then the message is still there, another chat's message 42 can be stored beside it,
    # and a second message 42 of the same chat cannot
    insert_message(blank_url, "-200", "42")
    with pytest.raises(IntegrityError):
        insert_message(blank_url, "-100", "42")
    with get_engine(blank_url).connect() as connection:
        rows = connection.execute(text("SELECT chat_id FROM messages ORDER BY id")).scalars().all()
    assert rows == ["-100", "-200"]


def test_0007_downgrades_while_external_ids_are_unique_per_channel(blank_url: str) -> None:
    upgrade(blank_url)
    insert_message(blank_url, "-100", "42")
    command.downgrade(alembic_config(blank_url), BEFORE_0007)
    with pytest.raises(IntegrityError):
        insert_message(blank_url, "-200", "42")


def test_a_sqlite_database_with_replies_upgrades_past_a_table_rebuild(tmp_path: Path) -> None:
    # Given a database at 0006 whose outbox rows reference messages (foreign keys)
    path = tmp_path / "claw.db"
    config = alembic_config(f"sqlite:///{path}")
    command.upgrade(config, "0006")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO groups (id, channel, chat_id, priority, is_main, settings, "
                   "last_processed_id, created_at) VALUES ('http:a', 'http', 'a', 0, 0, '{}', 0, "
                   "'2026-01-01')")
        db.execute("INSERT INTO messages (id, group_id, channel, chat_id, external_id, role, sender, "
                   "text, created_at) VALUES (1, 'http:a', 'http', 'a', 'e1', 'user', 'x', 'hi', "
                   "'2026-01-01')")
        db.execute("INSERT INTO outbox (id, group_id, message_id, answers_upto_id, text, status, "
                   "attempts, created_at) VALUES (1, 'http:a', 1, 1, 'hello', 'sent', 0, '2026-01-01')")

    # When it is upgraded to the head (0007 rebuilds messages on SQLite), down and up again
    command.upgrade(config, "head")
    command.downgrade(config, "0006")
    command.upgrade(config, "head")

    # Then every row is kept and every reference still holds
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM outbox").fetchone() == (1,)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        schema = db.execute("SELECT sql FROM sqlite_master WHERE name = 'messages'").fetchone()[0]
    assert "uq_messages_chat_external_id" in schema


def test_0008_keeps_existing_groups_approved_and_quiets_group_chats(blank_url: str) -> None:
    # Given a database before 0008 with a Telegram group, a Telegram DM, a WhatsApp group,
    # a WhatsApp one-to-one chat and an HTTP chat, each with a message
    config = alembic_config(blank_url)
    command.upgrade(config, "0007")
    with get_engine(blank_url).begin() as connection:
        for channel, chat in [("telegram", "-100"), ("telegram", "42"), ("whatsapp", "1@g.us"),
                              ("whatsapp", "491@s.whatsapp.net"), ("http", "team")]:
            connection.execute(text(
                "INSERT INTO groups (id, channel, chat_id, priority, is_main, settings, "
                "last_processed_id, created_at) VALUES (:id, :channel, :chat, false, false, '{}', 0, "
                "CURRENT_TIMESTAMP)"), {"id": f"{channel}:{chat}", "channel": channel, "chat": chat})
            connection.execute(text(
                "INSERT INTO messages (group_id, channel, chat_id, role, sender, text, created_at)"
                " VALUES (:id, :channel, :chat, 'user', 'alice', 'hi', CURRENT_TIMESTAMP)"),
                {"id": f"{channel}:{chat}", "channel": channel, "chat": chat})
    # When it is migrated
    upgrade(blank_url)
    # Then every group stays approved, group chats answer when addressed, the rest always,
    # and the stored messages still count as addressed (nothing owed is forgotten)
    with get_engine(blank_url).connect() as connection:
        groups = connection.execute(text("SELECT id, respond, access FROM groups ORDER BY id")).all()
        addressed = connection.execute(text("SELECT addressed FROM messages")).scalars().all()
    assert [tuple(g) for g in groups] == [
        ("http:team", "always", "approved"),
        ("telegram:-100", "mention", "approved"),
        ("telegram:42", "always", "approved"),
        ("whatsapp:1@g.us", "mention", "approved"),
        ("whatsapp:491@s.whatsapp.net", "always", "approved"),
    ]
    assert [bool(a) for a in addressed] == [True] * 5

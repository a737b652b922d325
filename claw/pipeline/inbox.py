"""Storing incoming messages: every channel's first step, before any queue is touched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from claw.db.models import Group, Message, utcnow
from claw.pipeline.routing import group_id_for


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    channel: str
    chat_id: str
    sender: str
    text: str
    external_id: str | None = None
    created_at: datetime | None = None

    @property
    def group_id(self) -> str:
        return group_id_for(self.channel, self.chat_id)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    group_id: str
    created: bool  #: False when this channel+external_id was stored before
    priority: bool  #: the group's priority flag, for routing its turn


def _insert_ignore(session: Session, model: type, values: dict[str, Any]) -> Any | None:
    """INSERT that skips a row violating a unique constraint; returns the new id or None."""
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    primary_key = model.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]
    statement = insert(model).values(**values).on_conflict_do_nothing().returning(primary_key)
    return session.execute(statement).scalar_one_or_none()


def ensure_group(session: Session, channel: str, chat_id: str) -> Group:
    group_id = group_id_for(channel, chat_id)
    _insert_ignore(
        session,
        Group,
        {
            "id": group_id,
            "channel": channel,
            "chat_id": chat_id,
            "priority": False,
            "is_main": False,
            "settings": {},
            "last_processed_id": 0,
            "created_at": utcnow(),
        },
    )
    group = session.get(Group, group_id)
    assert group is not None
    return group


def store_message(session: Session, incoming: IncomingMessage) -> StoredMessage:
    """Store a user message once per channel+external_id; a repeat returns the first copy."""
    group = ensure_group(session, incoming.channel, incoming.chat_id)
    inserted = _insert_ignore(
        session,
        Message,
        {
            "group_id": group.id,
            "channel": incoming.channel,
            "chat_id": incoming.chat_id,
            "external_id": incoming.external_id,
            "role": "user",
            "sender": incoming.sender,
            "text": incoming.text,
            # stored as UTC: SQLite drops the offset of an aware datetime without converting it
            "created_at": (incoming.created_at or utcnow()).astimezone(timezone.utc),
        },
    )
    if inserted is not None:
        return StoredMessage(inserted, group.id, created=True, priority=group.priority)
    # The first copy may belong to another chat of this channel (external ids are the
    # client's); report where it really is, so nobody waits for a reply in the wrong group.
    first_id, first_group = session.execute(
        select(Message.id, Message.group_id).where(
            Message.channel == incoming.channel, Message.external_id == incoming.external_id
        )
    ).one()
    first_priority = session.scalar(select(Group.priority).where(Group.id == first_group))
    return StoredMessage(first_id, first_group, created=False, priority=bool(first_priority))

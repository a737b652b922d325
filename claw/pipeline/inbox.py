"""Storing incoming messages: every channel's first step, before any queue is touched.

This is the one place messages are stored, so it is where their text is made storable: NUL
(which PostgreSQL refuses in text) and lone surrogates (which no database driver or JSON
response can encode as UTF-8) become U+FFFD, and a text longer than its channel's cap is cut
with a visible marker. The HTTP API refuses such input with a 422 before it gets here; polled
channels cannot be answered with an error, so their messages are kept, cleaned and cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from claw.config import get_settings
from claw.db.models import Channel, Group, GroupAccess, Message, utcnow
from claw.db.text import storable
from claw.pipeline.addressing import GROUP_CHANNELS, Respond, default_respond, is_addressed, is_private
from claw.pipeline.routing import group_id_for

#: channels whose clients push through the HTTP API, which refuses over-long text with a 422
PUSHED_CHANNELS = frozenset({Channel.HTTP, Channel.TERMINAL, Channel.WEB, Channel.API})
SENDER_MAX = 255  #: the sender column's width


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    channel: str
    chat_id: str
    sender: str
    text: str
    external_id: str | None = None
    created_at: datetime | None = None
    #: the channel's word on whether the chat is one person (Telegram's chat.type); None: the
    #: chat id tells (claw.pipeline.addressing.is_private)
    private: bool | None = None
    #: the message @mentions the bot or replies to one of its messages (found by the channel)
    mentions_bot: bool = False
    chat_name: str | None = None  #: the chat's title or its person's name, when the channel says

    @property
    def group_id(self) -> str:
        return group_id_for(self.channel, self.chat_id)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    group_id: str
    created: bool  #: False when this chat's external_id was stored before (or it was dropped)
    priority: bool  #: the group's priority flag, for routing its turn
    addressed: bool = True  #: it starts a turn (claw.pipeline.addressing); else context only
    access: str = GroupAccess.APPROVED  #: its group's access (claw.pipeline.pairing)

    @property
    def starts_turn(self) -> bool:
        """A new message that a turn answers now: addressed to claw, in an approved chat."""
        return self.created and self.addressed and self.access == GroupAccess.APPROVED


def max_text(channel: str) -> int:
    """The longest text kept of a message of ``channel``, in characters."""
    settings = get_settings()
    return settings.api_max_text if channel in PUSHED_CHANNELS else settings.poll_max_text


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in a marker that says so."""
    if len(text) <= limit:
        return text
    marker = f"\n[… cut: the message had {len(text)} characters, claw keeps {limit}]"
    if len(marker) >= limit:
        return text[:limit]
    return text[: limit - len(marker)] + marker


def _insert_ignore(session: Session, model: type, values: dict[str, Any]) -> Any | None:
    """INSERT that skips a row violating a unique constraint; returns the new id or None."""
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    primary_key = model.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]
    statement = insert(model).values(**values).on_conflict_do_nothing().returning(primary_key)
    return session.execute(statement).scalar_one_or_none()


def new_group_access(channel: str, chat_id: str) -> GroupAccess:
    """A chat claw has never seen waits for its owner's approval on a polled channel, unless
    pairing is off or the channel's allowlist names it."""
    settings = get_settings()
    if channel not in GROUP_CHANNELS or not settings.pairing:
        return GroupAccess.APPROVED
    allowlist = {Channel.TELEGRAM: settings.telegram_allowed_chats,
                 Channel.WHATSAPP: settings.whatsapp_allowed_chats}[Channel(channel)]
    return GroupAccess.APPROVED if chat_id in allowlist else GroupAccess.WAITING


def ensure_group(
    session: Session, channel: str, chat_id: str, *, private: bool | None = None,
    name: str | None = None,
) -> Group:
    """The chat's group, created on its first message: how it is answered and whether it
    waits for approval are decided then, once."""
    group_id = group_id_for(channel, chat_id)
    _insert_ignore(
        session,
        Group,
        {
            "id": group_id,
            "channel": channel,
            "chat_id": chat_id,
            "name": None if name is None else storable(name)[:SENDER_MAX],
            "respond": default_respond(channel, chat_id, private, get_settings().group_respond),
            "access": new_group_access(channel, chat_id),
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
    """Store a user message once per chat and external_id; a repeat returns the first copy.

    The same external id in two chats is two messages: Telegram counts message ids per chat,
    and an HTTP client picks its own. A blocked chat's message is dropped, not stored
    (``created`` False, id 0). Whether it addresses claw is decided here, once.
    """
    settings = get_settings()
    chat_id = storable(incoming.chat_id)
    external_id = None if incoming.external_id is None else storable(incoming.external_id)
    group = ensure_group(session, incoming.channel, chat_id, private=incoming.private,
                         name=incoming.chat_name)
    if group.access == GroupAccess.BLOCKED:
        return StoredMessage(0, group.id, created=False, priority=group.priority,
                             addressed=False, access=group.access)
    text = cut(storable(incoming.text), max_text(incoming.channel))
    # A private chat, and the HTTP, terminal and web channels, answer every message whatever
    # the group's respond setting says: "mention" there would leave each message unanswered.
    respond = Respond.ALWAYS if is_private(incoming.channel, chat_id, incoming.private) else group.respond
    addressed = is_addressed(text, respond=respond, mentions_bot=incoming.mentions_bot,
                             trigger=settings.trigger)
    inserted = _insert_ignore(
        session,
        Message,
        {
            "group_id": group.id,
            "channel": incoming.channel,
            "chat_id": chat_id,
            "external_id": external_id,
            "role": "user",
            "sender": storable(incoming.sender)[:SENDER_MAX],
            "text": text,
            "addressed": addressed,
            # stored as UTC: SQLite drops the offset of an aware datetime without converting it
            "created_at": (incoming.created_at or utcnow()).astimezone(timezone.utc),
        },
    )
    if inserted is not None:
        return StoredMessage(inserted, group.id, created=True, priority=group.priority,
                             addressed=addressed, access=group.access)
    first_id, first_addressed = session.execute(
        select(Message.id, Message.addressed).where(
            Message.channel == incoming.channel,
            Message.chat_id == chat_id,
            Message.external_id == external_id,
        )
    ).one()
    return StoredMessage(first_id, group.id, created=False, priority=group.priority,
                         addressed=first_addressed, access=group.access)

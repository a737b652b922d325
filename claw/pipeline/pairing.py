"""Pairing: a chat claw has never seen on Telegram or WhatsApp waits for its owner's approval.

Its first message is stored (``Group.access`` "waiting") and gets one short reply, written
to the outbox in the same transaction: a pairing code, nothing else. None of its messages
reaches the model. Later messages get no reply while the code is valid; once it has expired,
the next message gets a new code (one reply per code). The owner approves with
`claw groups approve CODE` (``POST /v1/pairings/{code}/approve``) or refuses with
`claw groups block`.

On approval the group's waiting messages are simply pending: a turn answers them as if the
chat had been approved all along (a DM's all, once; a group's addressed ones, with the rest
as context). Exactly-once needs nothing new: the messages were stored once, and the turn's
compare-and-set commit answers each once.

A blocked chat's messages are dropped at storing (claw.pipeline.inbox); those it sent while
waiting are set aside ("blocked"), so they are listed but never answered.

Codes are 8 characters from a 32-letter alphabet without look-alikes (``secrets``): 2^40
codes, far more than anyone can try through an API that needs the owner's token anyway.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from claw.config import get_settings
from claw.db.models import Group, GroupAccess, Message, Pairing, utcnow
from claw.db.text import storable
from claw.pipeline.addressing import GROUP_CHANNELS
from claw.pipeline.inbox import IncomingMessage, StoredMessage, _insert_ignore
from claw.pipeline.outbox import as_utc, write_reply

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  #: no I, O, 0, 1: read aloud without doubt
CODE_LENGTH = 8
FIRST_TEXT_MAX = 500  #: of the first message, kept to show the owner who is asking


class PairingError(Exception):
    """A pairing code that approves nothing."""


class UnknownCode(PairingError):
    """No chat waits with this code."""


class NotBlockable(PairingError):
    """Only Telegram and WhatsApp chats are paired or blocked: the API's channels need the
    owner's token already."""


class ExpiredCode(PairingError):
    """The code expired; the chat gets a new one when it writes again."""


@dataclass(frozen=True, slots=True)
class Approved:
    group_id: str
    priority: bool


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """Codes are typed by people: any case, spaces and dashes ignored."""
    return "".join(code.split()).replace("-", "").upper()


def notice_text(code: str, ttl: float) -> str:
    minutes = max(1, round(ttl / 60))
    return (
        f"Hi! I only talk in chats my owner has approved. Pairing code: {code} "
        f"(valid {minutes} min). Ask my owner to run: claw groups approve {code}"
    )


def hold(session: Session, stored: StoredMessage, incoming: IncomingMessage) -> int | None:
    """After a waiting chat's message is stored: the outbox id of the pairing reply to send,
    or None when the chat's code is still valid (it was told already) or nothing was stored.

    Race-free: the group row is locked (so an approval or a block is either seen here or
    waits for this transaction), the pairing row is inserted only if the group has none, and
    an expired code is renewed by a compare-and-set on its expiry; only the winner writes a reply.
    """
    if not stored.created or stored.access != GroupAccess.WAITING:
        return None
    # The group row, locked and read afresh: on PostgreSQL the owner may have approved (or
    # blocked) the chat since this transaction read it; an approval that lands now waits for
    # this transaction, and then deletes whatever pairing row it wrote.
    group = session.get(Group, stored.group_id, with_for_update=True, populate_existing=True)
    if group is None or group.access != GroupAccess.WAITING:
        return None
    settings = get_settings()
    now = utcnow()
    expires = now + timedelta(seconds=settings.pairing_code_ttl)
    code = new_code()
    inserted = _insert_ignore(session, Pairing, {
        "group_id": stored.group_id, "code": code,
        "chat_name": None if incoming.chat_name is None else storable(incoming.chat_name)[:255],
        "first_sender": storable(incoming.sender)[:255],
        "first_text": storable(incoming.text)[:FIRST_TEXT_MAX],
        "created_at": now, "expires_at": expires, "notice_id": None,
    })
    if inserted is None:
        renewed = session.execute(
            update(Pairing)
            .where(Pairing.group_id == stored.group_id, Pairing.expires_at <= now)
            .values(code=code, created_at=now, expires_at=expires)
        ).rowcount
        if not renewed:
            return None
    outbox = write_reply(session, group_id=group.id, channel=group.channel, chat_id=group.chat_id,
                         text=notice_text(code, settings.pairing_code_ttl), kind="notice")
    session.execute(update(Pairing).where(Pairing.group_id == group.id).values(notice_id=outbox.id))
    return outbox.id


def waiting(session: Session) -> list[tuple[Pairing, bool]]:
    """Every chat waiting for approval, oldest first, with whether its code has expired."""
    now = utcnow()
    rows = session.scalars(select(Pairing).order_by(Pairing.created_at, Pairing.group_id))
    return [(row, as_utc(row.expires_at) <= now) for row in rows]


def approve_code(session: Session, code: str, *, now: datetime | None = None) -> Approved:
    """Approve the chat waiting with ``code``; raises UnknownCode or ExpiredCode."""
    pairing = session.scalar(select(Pairing).where(Pairing.code == normalise_code(code)))
    if pairing is None:
        raise UnknownCode(code)
    if as_utc(pairing.expires_at) <= (now or utcnow()):
        raise ExpiredCode(code)
    return approve_group(session, pairing.group_id)


def approve_group(session: Session, group_id: str) -> Approved:
    """Approve a group (waiting or blocked): its pending messages are answered by its next
    turn, which the caller queues after the commit."""
    group = session.get(Group, group_id)
    if group is None:
        raise UnknownCode(group_id)
    if group.access != GroupAccess.APPROVED:
        group.access = GroupAccess.APPROVED
        group.approved_at = utcnow()
    session.execute(delete(Pairing).where(Pairing.group_id == group_id))
    return Approved(group.id, bool(group.priority))


def block_group(session: Session, group_id: str) -> int:
    """Refuse a chat: its future messages are dropped, and those it sent while waiting are set
    aside (kept, never answered). Returns how many were set aside."""
    group = session.get(Group, group_id)
    if group is None:
        raise UnknownCode(group_id)
    if group.channel not in GROUP_CHANNELS:
        raise NotBlockable(group_id)
    group.access = GroupAccess.BLOCKED
    session.execute(delete(Pairing).where(Pairing.group_id == group_id))
    return session.execute(
        update(Message)
        .where(Message.pending_in(group_id))
        .values(set_aside_at=utcnow(), set_aside_reason="blocked")
    ).rowcount


def group_of_code(session: Session, code: str) -> str | None:
    return session.scalar(select(Pairing.group_id).where(Pairing.code == normalise_code(code)))

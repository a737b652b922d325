"""Delivery bookkeeping for replies: claim a row, then mark it sent or give it back.

Claiming is a compare-and-set from ``pending`` to ``sending``, so two send tasks for one row
(a redelivery, a sweeper re-enqueue) never both deliver it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from claw.channels import PULL_CHANNELS
from claw.db import Message, Outbox
from claw.db.models import OutboxStatus, utcnow


def new_row(*, group_id: str, channel: str, text: str, **fields: object) -> Outbox:
    """An outbox row for a reply. On a pull channel (HTTP, terminal, web) the reply is
    delivered the moment it is committed, since its clients read it from the database; only
    push channels wait for a send task."""
    if channel in PULL_CHANNELS:
        now = utcnow()
        return Outbox(group_id=group_id, text=text, status=OutboxStatus.SENT, sent_at=now,
                      claimed_at=now, attempts=1, **fields)
    return Outbox(group_id=group_id, text=text, **fields)


def write_reply(
    session: Session,
    *,
    group_id: str,
    channel: str,
    chat_id: str,
    text: str,
    kind: str = "chat",
    answers_upto_id: int = 0,
    turn_started_at: datetime | None = None,
) -> Outbox:
    """What claw says to a group: the assistant message (its history) and the outbox row that
    delivers it, written together. Turns, reminders and sandboxed code all speak through it."""
    message = Message(group_id=group_id, channel=channel, chat_id=chat_id, role="assistant",
                      kind=kind, sender="claw", text=text)
    session.add(message)
    session.flush()
    outbox = new_row(group_id=group_id, channel=channel, text=text, message_id=message.id,
                     answers_upto_id=answers_upto_id, turn_started_at=turn_started_at)
    session.add(outbox)
    session.flush()
    return outbox


def claim(session: Session, outbox_id: int) -> Outbox | None:
    claimed = session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, claimed_at=utcnow(), attempts=Outbox.attempts + 1)
    ).rowcount
    return session.get(Outbox, outbox_id) if claimed else None


def mark_sent(session: Session, outbox_id: int) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id)
        .values(status=OutboxStatus.SENT, sent_at=utcnow(), last_error=None)
    )


def give_back(session: Session, outbox_id: int, error: str, *, give_up: bool) -> None:
    """Return a failed delivery to ``pending`` (or ``failed`` after the last attempt)."""
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id)
        .values(
            status=OutboxStatus.FAILED if give_up else OutboxStatus.PENDING,
            last_error=error[:500],
            claimed_at=None,
        )
    )


def unsent_ids(session: Session, *, older_than: float, stuck_after: float) -> list[int]:
    """Rows the sweeper should send again: pending for a while, or claimed by a dead sender.

    A row stuck in ``sending`` is handed back first; the channel may then see it twice, the
    only at-least-once edge left (a sender killed between delivering and marking).
    """
    now = utcnow()
    session.execute(
        update(Outbox)
        .where(
            Outbox.status == OutboxStatus.SENDING,
            Outbox.claimed_at < now - timedelta(seconds=stuck_after),
        )
        .values(status=OutboxStatus.PENDING, claimed_at=None)
    )
    return list(
        session.scalars(
            select(Outbox.id).where(
                Outbox.status == OutboxStatus.PENDING,
                Outbox.created_at < now - timedelta(seconds=older_than),
            )
        )
    )

"""Delivery bookkeeping for replies: claim a row, then mark it sent, defer it or fail it.

Claiming is a compare-and-set from ``pending`` to ``sending``, so two send tasks for one row
(a redelivery, a sweeper re-enqueue) never both deliver it. A chat's replies go out oldest
first: only its head (``head_of_chat``) is ever claimed.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from claw.channels import PULL_CHANNELS
from claw.db import Message, Outbox
from claw.db.models import OutboxStatus, utcnow

#: a reply in one of these states is still to be delivered
UNSENT = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone-aware columns; claw stores UTC only."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


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


def head_of_chat(session: Session, group_id: str) -> Outbox | None:
    """The chat's oldest reply not yet delivered: the only one that may be sent next, so a
    chat's replies arrive in the order they were written, retries included."""
    return session.scalars(
        select(Outbox)
        .where(Outbox.group_id == group_id, Outbox.status.in_(UNSENT))
        .order_by(Outbox.id)
        .limit(1)
    ).first()


def claim(session: Session, outbox_id: int) -> Outbox | None:
    claimed = session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, claimed_at=utcnow(), attempts=Outbox.attempts + 1)
    ).rowcount
    return session.get(Outbox, outbox_id) if claimed else None


def mark_part_sent(session: Session, outbox_id: int, parts_sent: int) -> None:
    """One more part of a split reply is delivered; ``claimed_at`` doubles as a heartbeat, so a
    long reply still going out is never taken for one whose sender died."""
    session.execute(
        update(Outbox).where(Outbox.id == outbox_id).values(parts_sent=parts_sent, claimed_at=utcnow())
    )


def mark_sent(session: Session, outbox_id: int, *, parts: int | None = None) -> None:
    values: dict[str, object] = {"status": OutboxStatus.SENT, "sent_at": utcnow(),
                                 "last_error": None, "next_attempt_at": None}
    if parts is not None:
        values["parts_sent"] = parts
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def defer(session: Session, outbox_id: int, error: str, *, retry_at: datetime) -> None:
    """A failed attempt: back to ``pending``, not to be tried before ``retry_at``."""
    now = utcnow()
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id)
        .values(status=OutboxStatus.PENDING, last_error=error[:500], claimed_at=None,
                next_attempt_at=retry_at, first_failed_at=func.coalesce(Outbox.first_failed_at, now))
    )


def fail(session: Session, outbox_id: int, error: str) -> None:
    """Stop retrying: ``failed`` stays listed (`claw outbox`, /metrics) and can be retried."""
    now = utcnow()
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id)
        .values(status=OutboxStatus.FAILED, last_error=error[:500], claimed_at=None,
                next_attempt_at=None, first_failed_at=func.coalesce(Outbox.first_failed_at, now))
    )


def failing_since(session: Session, group_id: str, since: datetime) -> None:
    """The chat's delivery has been failing since ``since``: its waiting replies count their
    time from then, so when one gives up the ones behind it get one attempt each, not a
    fresh CLAW_SEND_GIVE_UP_AFTER each."""
    session.execute(
        update(Outbox)
        .where(Outbox.group_id == group_id, Outbox.status == OutboxStatus.PENDING,
               Outbox.first_failed_at.is_(None))
        .values(first_failed_at=since)
    )


def retry(session: Session, *, outbox_id: int | None = None, group_id: str | None = None) -> list[int]:
    """Make failed replies (and replies waiting out a backoff) due again now, oldest first.

    The parts of a split reply already delivered stay counted: a retry never repeats them.
    """
    where = [Outbox.status.in_((OutboxStatus.FAILED, OutboxStatus.PENDING))]
    if outbox_id is not None:
        where.append(Outbox.id == outbox_id)
    if group_id is not None:
        where.append(Outbox.group_id == group_id)
    ids = list(session.scalars(select(Outbox.id).where(*where).order_by(Outbox.id)))
    if ids:
        session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids))
            .values(status=OutboxStatus.PENDING, next_attempt_at=None, first_failed_at=None,
                    attempts=0)
        )
    return ids


def unsent_rows(session: Session, group_id: str | None = None) -> list[Outbox]:
    """Replies not delivered (pending, being sent, failed), by chat and in order."""
    query = select(Outbox).where(Outbox.status.in_((*UNSENT, OutboxStatus.FAILED)))
    if group_id is not None:
        query = query.where(Outbox.group_id == group_id)
    return list(session.scalars(query.order_by(Outbox.group_id, Outbox.id)))


def unsent_ids(session: Session, *, older_than: float, stuck_after: float) -> list[int]:
    """Rows the sweeper should send again: the first undelivered reply of each chat, when its
    attempt has been due (its retry time, else its creation) for ``older_than`` seconds, so a
    chat waiting out a backoff or Telegram's retry_after is left alone until then.

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
    heads = select(func.min(Outbox.id)).where(Outbox.status.in_(UNSENT)).group_by(Outbox.group_id)
    due = func.coalesce(Outbox.next_attempt_at, Outbox.created_at)
    return list(
        session.scalars(
            select(Outbox.id)
            .where(Outbox.id.in_(heads), Outbox.status == OutboxStatus.PENDING,
                   due < now - timedelta(seconds=older_than))
            .order_by(Outbox.id)
        )
    )

"""Setting a batch aside: the messages a turn kept failing on stop blocking the group.

They are marked (``set_aside_at``, ``set_aside_reason``), so they are no longer pending and
later messages are answered; the group is told in the same transaction which message could
not be handled and why. Nothing is deleted: `claw groups failed` lists them and
`claw groups retry` puts them back, to be answered (once) by the group's next turn.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from claw.db import Message
from claw.db.models import utcnow
from claw.pipeline.outbox import write_reply

log = logging.getLogger(__name__)

#: characters of a set-aside message quoted back to the group
QUOTE_CHARS = 60
#: messages named one by one in the notice; the rest are counted
NAMED = 3


def set_aside_messages(session: Session, group_id: str) -> list[Message]:
    """The group's set-aside user messages, oldest first."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.unanswered_in(group_id), Message.set_aside_at.is_not(None))
            .order_by(Message.id)
        )
    )


def set_aside(
    session: Session, group_id: str, *, upto_id: int, reason: str, attempts: int,
    now: datetime | None = None,
) -> int | None:
    """Set aside the group's pending messages up to ``upto_id`` and tell the group.

    Returns the notice's outbox id, or None when nothing was pending any more.
    """
    rows = list(
        session.scalars(
            select(Message)
            .where(Message.pending_in(group_id), Message.id <= upto_id)
            .order_by(Message.id)
        )
    )
    if not rows:
        return None
    session.execute(
        update(Message)
        .where(Message.id.in_([m.id for m in rows]), Message.answered_by.is_(None))
        .values(set_aside_at=now or utcnow(), set_aside_reason=reason)
    )
    outbox = write_reply(
        session,
        group_id=group_id,
        channel=rows[-1].channel,
        chat_id=rows[-1].chat_id,
        text=set_aside_text(rows, group_id, reason=reason, attempts=attempts),
        kind="notice",
    )
    log.warning("batch_set_aside group=%s messages=%d upto=%d attempts=%d",
                group_id, len(rows), upto_id, attempts)
    return outbox.id


def put_back(session: Session, group_id: str, ids: Sequence[int] | None = None) -> list[int]:
    """Make the group's set-aside messages (all, or those of ``ids``) pending again."""
    wanted = [m.id for m in set_aside_messages(session, group_id) if ids is None or m.id in ids]
    if wanted:
        session.execute(
            update(Message)
            .where(Message.id.in_(wanted))
            .values(set_aside_at=None, set_aside_reason=None)
        )
        log.info("set_aside_put_back group=%s messages=%d", group_id, len(wanted))
    return wanted


def quote(message: Message) -> str:
    text = " ".join(message.text.split())
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    return f'{message.sender}: "{text}"'


def set_aside_text(rows: Sequence[Message], group_id: str, *, reason: str, attempts: int) -> str:
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if len(rows) == 1:
        which = f"your message ({quote(rows[0])})"
    else:
        named = "; ".join(quote(m) for m in rows[:NAMED])
        more = f"; and {len(rows) - NAMED} more" if len(rows) > NAMED else ""
        which = f"{len(rows)} messages ({named}{more})"
    return (
        f"Sorry, I couldn't handle {which} after {tries} ({reason}), so I've set "
        f"{'it' if len(rows) == 1 else 'them'} aside and will answer newer messages. "
        f"To try again: `claw groups retry {group_id}`."
    )

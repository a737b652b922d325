"""Queries the sweeper runs: which groups still wait for an answer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from claw.db import Group, Message
from claw.db.models import GroupAccess, utcnow


def groups_waiting(session: Session, *, quiet_for: float) -> list[tuple[str, bool]]:
    """(group id, priority) of groups with unanswered messages, the newest older than quiet_for.

    Groups still inside their cooldown are left to the turn already scheduled for them, and
    set-aside messages wait for `claw groups retry`. Messages that did not address claw are
    owed nothing, and a chat waiting for its owner's approval waits.
    """
    cutoff = utcnow() - timedelta(seconds=quiet_for)
    quiet = (
        select(Message.group_id)
        .where(Message.role == "user", Message.answered_by.is_(None),
               Message.set_aside_at.is_(None), Message.addressed.is_(True))
        .group_by(Message.group_id)
        .having(func.max(Message.created_at) < cutoff)
    )
    rows = session.execute(
        select(Group.id, Group.priority).where(Group.id.in_(quiet), Group.access == GroupAccess.APPROVED)
    )
    return [(group_id, bool(priority)) for group_id, priority in rows]

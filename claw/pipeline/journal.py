"""A turn's journal: the model's responses and the tools' results, written as they happen.

A turn is redone after a model error, a killed worker or a time limit. Without a journal the
redone turn would ask the model afresh and run its tools again (two schedules, two messages
sent). With it, the redone turn rebuilds its conversation from the journal and continues from
there: a tool whose result is journaled is never run again, and the turn answers the same batch
of messages it started with (messages that arrived meanwhile wait for the next turn).

    TurnJournal   one turn's journal. Opened lazily, with the first model response that asks
                  for a tool, so a turn without tools writes nothing extra; deleted in the
                  transaction that commits the reply.
    JournalSlot   where one tool call, or one host request of the code it ran, journals its
                  result: ``record(session, data)`` inside the transaction that holds a database
                  effect (a schedule, an outbox row), so the effect and its entry commit
                  together; ``marker`` names a file effect so redoing it can be a no-op.

Steps are addressed (step, call, request) as claw.db.models.TurnStep describes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from claw.db import Message, read_session, write_session
from claw.db.models import TurnJournal as JournalRow
from claw.db.models import TurnStep

log = logging.getLogger(__name__)

Data = dict[str, Any]
Address = tuple[int, int, int]
#: the ``request`` under which a call notes its intent before its effect (JournalSlot.intent)
INTENT = -1


class BatchAnswered(Exception):
    """The batch a journal would be opened for is no longer pending: another turn of the group
    answered it (or it was set aside) while this one ran, e.g. after this turn's worker stopped
    long enough for its lease to expire and the group to move. The turn must stop before any
    tool runs, or its effects would happen a second time."""


def _journaled(session: Session, journal_id: int, address: Address) -> Data | None:
    step, call, request = address
    return session.scalar(
        select(TurnStep.data).where(
            TurnStep.journal_id == journal_id, TurnStep.step == step, TurnStep.call == call,
            TurnStep.request == request,
        )
    )


def _add(session: Session, journal_id: int, address: Address, data: Data) -> None:
    step, call, request = address
    session.add(TurnStep(journal_id=journal_id, step=step, call=call, request=request, data=data))
    session.flush()


def _add_once(session: Session, journal_id: int, address: Address, data: Data) -> Data:
    """Journal ``data`` unless something is journaled there already; returns what is."""
    existing = _journaled(session, journal_id, address)
    if existing is not None:
        return existing
    _add(session, journal_id, address, data)
    return data


@dataclass(frozen=True, slots=True)
class JournalSlot:
    """The journal entry of one tool call (``request`` 0) or of one host request of its code."""

    journal_id: int
    key: str  #: the journal's random key
    step: int
    call: int
    request: int = 0
    database_url: str | None = None

    @property
    def marker(self) -> str:
        """A name for this effect that no other turn's effect has, e.g. "3f2a….2.1"."""
        base = f"{self.key}.{self.step}.{self.call}"
        return f"{base}.{self.request}" if self.request else base

    @property
    def address(self) -> Address:
        return self.step, self.call, self.request

    def intent(self, data: Data) -> Data:
        """Note what the call is about to do, before its effect (e.g. where an append starts),
        keeping the first note: a redone call reads what its first run meant to do."""
        with write_session(self.database_url) as session:
            return _add_once(session, self.journal_id, (self.step, self.call, INTENT), data)

    def for_request(self, request: int) -> JournalSlot:
        """The slot of the ``request``-th host request (from 1) of the code this call runs."""
        return replace(self, request=request)

    def record(self, session: Session, data: Data) -> None:
        """Journal the result in the caller's transaction, the one that holds its effect."""
        _add(session, self.journal_id, self.address, data)

    def recorded(self) -> Data | None:
        with read_session(self.database_url) as session:
            return _journaled(session, self.journal_id, self.address)

    def record_once(self, data: Data) -> Data:
        """Journal the result in a transaction of its own unless it is already; returns the
        journaled one (an effect that journaled itself wins over a second opinion)."""
        with write_session(self.database_url) as session:
            return _add_once(session, self.journal_id, self.address, data)


class TurnJournal:
    """The journal of one turn of one group, as the agent loop reads and extends it."""

    def __init__(
        self,
        group_id: str,
        message_ids: list[int],
        started_at: datetime,
        *,
        journal_id: int | None = None,
        key: str | None = None,
        steps: dict[Address, Data] | None = None,
        database_url: str | None = None,
    ) -> None:
        self.group_id = group_id
        self.message_ids = list(message_ids)
        self.started_at = started_at
        self.journal_id = journal_id
        self.key = key
        self.database_url = database_url
        self._steps: dict[Address, Data] = dict(steps or {})

    @property
    def opened(self) -> bool:
        return self.journal_id is not None

    def recorded(self, step: int, call: int) -> Data | None:
        return self._steps.get((step, call, 0))

    def record(self, step: int, call: int, data: Data) -> Data:
        """Journal a model response (call 0) or a tool result; returns the journaled data,
        which is an earlier entry if the tool journaled its own result with its effect."""
        address = (step, call, 0)
        with write_session(self.database_url) as session:
            if self.journal_id is None:
                try:
                    self._open(session)
                except BatchAnswered:
                    self.journal_id = self.key = None
                    raise
            elif session.get(JournalRow, self.journal_id) is None:
                raise BatchAnswered(self.group_id)  # another turn resumed it and closed it
            assert self.journal_id is not None
            data = _add_once(session, self.journal_id, address, data)
        self._steps[address] = data
        return data

    def _open(self, session: Session) -> None:
        row = JournalRow(group_id=self.group_id, key=uuid.uuid4().hex, message_ids=self.message_ids,
                         started_at=self.started_at)
        session.add(row)
        session.flush()
        self.journal_id, self.key = row.id, row.key
        # Checked after the insert, which waits for (and, by the group's one-journal rule,
        # conflicts with) a concurrent turn's open journal: a reply committed meanwhile is seen.
        still = session.scalar(select(func.count()).select_from(Message).where(
            Message.pending_in(self.group_id), Message.id.in_(self.message_ids)))
        if still != len(set(self.message_ids)):
            raise BatchAnswered(self.group_id)  # rolls the journal back with the transaction
        log.info("journal_opened group=%s journal=%d messages=%d", self.group_id, row.id,
                 len(self.message_ids))

    def slot(self, step: int, call: int) -> JournalSlot:
        if self.journal_id is None or self.key is None:
            raise RuntimeError("a tool runs only after the model step that asked for it is journaled")
        return JournalSlot(self.journal_id, self.key, step, call, database_url=self.database_url)

    def close(self, session: Session) -> None:
        """Delete the journal, in the transaction that commits the turn's reply."""
        if self.journal_id is not None:
            _delete(session, self.journal_id)


def _delete(session: Session, journal_id: int) -> None:
    session.execute(delete(TurnStep).where(TurnStep.journal_id == journal_id))
    session.execute(delete(JournalRow).where(JournalRow.id == journal_id))


#: every turn looks for its group's journal: built once (claw.pipeline.turns says why)
_OPEN_JOURNAL = select(JournalRow).where(JournalRow.group_id == bindparam("group_id"))


def open_journal(session: Session, group_id: str, database_url: str | None = None) -> TurnJournal | None:
    """The group's open journal with every step journaled so far, or None."""
    row = session.scalar(_OPEN_JOURNAL, {"group_id": group_id})
    if row is None:
        return None
    steps = {
        (s.step, s.call, s.request): s.data
        for s in session.scalars(select(TurnStep).where(TurnStep.journal_id == row.id, TurnStep.request == 0))
    }
    return TurnJournal(group_id, list(row.message_ids), row.started_at, journal_id=row.id, key=row.key,
                       steps=steps, database_url=database_url)


def discard_journal(session: Session, group_id: str) -> bool:
    """Drop the group's open journal (its batch was answered or set aside); True if there was one."""
    journal_id = session.scalar(select(JournalRow.id).where(JournalRow.group_id == group_id))
    if journal_id is None:
        return False
    _delete(session, journal_id)
    log.info("journal_discarded group=%s journal=%d", group_id, journal_id)
    return True

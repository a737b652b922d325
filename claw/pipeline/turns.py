"""A group's turn: take all its pending messages, ask the agent, commit one reply.

Exactly-once rests on the commit, not on Celery: the reply, the outbox row and the "answered"
mark of every message it covers are written in one transaction that only succeeds if none of
those messages was answered meanwhile. A redelivered or duplicated turn therefore either finds
nothing pending or loses the compare-and-set, and never sends a second reply.

Exactly-once of the tools' effects rests on the turn's journal (claw.pipeline.journal): a turn
that finds its group's journal open answers that journal's batch and resumes from its steps,
and the reply's transaction deletes the journal.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from claw.agent import AgentReply, ChatLine, Provider, ProviderError, TurnInput
from claw.agent.loop import run_agent
from claw.agent.pricing import cost_usd, price_table
from claw.agent.tools import ToolContext, ToolRegistry, registry_for
from claw.agent.transcript import stored_history_window
from claw.config import Settings
from claw.db import Group, Message, Usage, read_session, write_session
from claw.db.models import GroupAccess, utcnow
from claw.faults import fault_point
from claw.memory import memory_prompt, record_turn
from claw.personality import load_personality
from claw.pipeline.backlog import trim_pending
from claw.pipeline.failures import Failure
from claw.pipeline.journal import BatchAnswered, TurnJournal, discard_journal, open_journal
from claw.pipeline.outbox import write_reply
from claw.sandbox import quota
from claw.sandbox.layout import ensure_group_layout

log = logging.getLogger(__name__)

STALE_APOLOGY = "Sorry for the slow reply, I was held up."


class TurnOutcome(StrEnum):
    IDLE = "idle"  #: nothing pending: a duplicate or late turn
    COOLING = "cooling"  #: the group's latest message is too fresh; retry after the cooldown
    BUSY = "busy"  #: another turn holds the group's lease
    REPLIED = "replied"
    RACED = "raced"  #: someone else answered these messages first; nothing written
    FAILED = "failed"  #: the turn failed (claw.pipeline.failures); the messages stay pending
    BACKOFF = "backoff"  #: the group backs off after failures; its retry chain will answer


@dataclass(frozen=True, slots=True)
class TurnResult:
    outcome: TurnOutcome
    outbox_id: int | None = None
    answered: int = 0
    retry_in: float | None = None
    error: ProviderError | None = None
    newest_pending_id: int = 0
    failure: Failure | None = None  #: any failure, described for the group (set by attempts)


def _as_aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; we only store UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def _line(message: Message) -> ChatLine:
    return ChatLine(message.role, message.sender, message.text, _as_aware(message.created_at))


# The reads every turn makes, built once with the group (and the history's bounds) as bound
# parameters: building a statement and its cache key anew took more CPU than SQLite's answer
# (a tenth of a turn's CPU, claw bench scale). Same SQL, same plans.
_GROUP = bindparam("group_id")
_PENDING = select(Message).where(Message.pending_in(_GROUP)).order_by(Message.id)
_PENDING_SPAN = select(func.min(Message.id), func.max(Message.id)).where(Message.pending_in(_GROUP))
_HISTORY_OF_GROUP = (Message.group_id == _GROUP, Message.kind == "chat", Message.set_aside_at.is_(None))
_SAID_BEFORE = Message.id < bindparam("before_id")
_HISTORY = (select(Message).where(_SAID_BEFORE, *_HISTORY_OF_GROUP)
            .order_by(Message.id.desc()).limit(bindparam("limit")))
#: with what the group said among itself up to the batch's newest message (``upto_id``)
_HISTORY_UPTO = (
    select(Message)
    .where(_SAID_BEFORE | ((Message.id <= bindparam("upto_id")) & Message.addressed.is_(False)
                           & Message.id.not_in(bindparam("batch", expanding=True))),
           *_HISTORY_OF_GROUP)
    .order_by(Message.id.desc()).limit(bindparam("limit"))
)


#: the reply's compare-and-set: only messages no reply answered yet are marked (no session
#: synchronisation: the write session holds none of them)
_MARK_ANSWERED = (
    update(Message)
    .where(Message.id.in_(bindparam("ids", expanding=True)), Message.answered_by.is_(None))
    .values(answered_by=bindparam("outbox_id"))
    .execution_options(synchronize_session=False)
)
_MARK_PROCESSED = (
    update(Group).where(Group.id == _GROUP).values(last_processed_id=bindparam("last_id"))
    .execution_options(synchronize_session=False)
)


def pending_messages(session: Session, group_id: str) -> list[Message]:
    return list(session.scalars(_PENDING, {"group_id": group_id}))


def journaled_batch(session: Session, journal: TurnJournal) -> list[Message] | None:
    """The messages the journal's turn answers, or None if any of them is no longer pending
    (the journal is then stale: nothing of it may be replayed into another batch's turn)."""
    batch = set(journal.message_ids)
    rows = [m for m in pending_messages(session, journal.group_id) if m.id in batch]
    return rows if len(rows) == len(batch) else None


def pending_span(session: Session, group_id: str) -> tuple[int, int] | None:
    """(oldest, newest) id of the group's pending messages, or None when nothing is pending."""
    oldest, newest = session.execute(_PENDING_SPAN, {"group_id": group_id}).one()
    return None if newest is None else (oldest, newest)


def cooldown_left(pending: list[Message], cooldown: float, now: datetime) -> float:
    """Seconds until the group has been quiet for ``cooldown`` since its latest message."""
    latest = max(_as_aware(m.created_at) for m in pending)
    return max(0.0, cooldown - (now - latest).total_seconds())


def is_stale(
    pending: list[Message], stale_after: float, now: datetime, *, since: datetime | None = None
) -> bool:
    """Whether the oldest message waited too long for claw. ``since``: when the group was
    approved; the wait for the owner's approval was not claw being slow."""
    oldest = min(_as_aware(m.created_at) for m in pending)
    if since is not None:
        oldest = max(oldest, _as_aware(since))
    return now - oldest > timedelta(seconds=stale_after)


def recent_history(
    session: Session, group_id: str, before_id: int, limit: int, *, upto_id: int | None = None,
    batch: frozenset[int] = frozenset(),
) -> list[Message]:
    """The conversation before the pending messages; notices about claw itself, and messages
    set aside because turns kept failing on them, left out.

    Group messages that did not address claw are part of it: what was said since claw last
    spoke. Those said between the batch's messages (up to ``upto_id``) come too, just before it.
    """
    params: dict[str, object] = {"group_id": group_id, "before_id": before_id, "limit": limit}
    if upto_id is None:
        rows = session.scalars(_HISTORY, params)
    else:
        rows = session.scalars(_HISTORY_UPTO, {**params, "upto_id": upto_id, "batch": sorted(batch)})
    return list(reversed(list(rows)))


def build_turn_input(
    session: Session, settings: Settings, group: Group, pending: list[Message]
) -> TurnInput:
    rows = recent_history(session, group.id, pending[0].id, settings.history_messages,
                          upto_id=pending[-1].id, batch=frozenset(m.id for m in pending))
    # Cut where the last turns cut, so the cached prompt prefix holds for several turns.
    history = stored_history_window([_line(m) for m in rows], settings.history_messages)
    return TurnInput(
        group_id=group.id,
        system_prompt=load_personality(settings.workspace, group.id)
        + memory_prompt(settings.workspace, group.id, max_chars=settings.memory_prompt_chars),
        history=history,
        new_messages=trim_pending(
            [_line(m) for m in pending],
            max_messages=settings.pending_max_messages,
            char_budget=settings.pending_char_budget,
        ),
        timezone=str((group.settings or {}).get("timezone") or settings.tz),
    )


def _ensure_layout(settings: Settings, group_id: str) -> None:
    from claw.sandbox.base import sandbox_owner
    from claw.sandbox.errors import SandboxConfigError

    try:
        owner = None if settings.sandbox == "subprocess" else sandbox_owner(settings)
    except SandboxConfigError:
        owner = None
    try:
        ensure_group_layout(settings.workspace, group_id, owner)
    except OSError as exc:  # never block a group over its folder: the reads below are safe
        log.warning("group_layout_failed group=%s error=%s", group_id, exc)


class AlreadyAnswered(Exception):
    """Another turn committed a reply to some of these messages first."""


def commit_reply(
    session: Session,
    group_id: str,
    pending: list[Message],
    reply: AgentReply,
    text: str,
    *,
    started_at: datetime,
    prices: str | None = None,
) -> int:
    """Write reply + outbox + usage and mark the messages answered, or raise AlreadyAnswered."""
    ids = [m.id for m in pending]
    outbox = write_reply(
        session,
        group_id=group_id,
        channel=pending[-1].channel,
        chat_id=pending[-1].chat_id,
        text=text,
        answers_upto_id=ids[-1],
        turn_started_at=started_at,
    )
    marked = session.execute(_MARK_ANSWERED, {"ids": ids, "outbox_id": outbox.id}).rowcount
    if marked != len(ids):
        raise AlreadyAnswered(group_id)  # rolls the whole transaction back
    session.execute(_MARK_PROCESSED, {"group_id": group_id, "last_id": ids[-1]})
    record_usage(session, group_id, reply, prices)
    return outbox.id


def record_usage(session: Session, group_id: str, reply: AgentReply, prices: str | None = None) -> None:
    table = price_table(prices)
    for used in reply.usage:
        session.add(
            Usage(
                group_id=group_id,
                model=used.model,
                input_tokens=used.input_tokens,
                output_tokens=used.output_tokens,
                cache_read_tokens=used.cache_read_tokens,
                cache_write_tokens=used.cache_write_tokens,
                cost_usd=cost_usd(used, table),
            )
        )


def commit_notice(session: Session, group_id: str, pending: list[Message], text: str) -> int:
    """Tell the group something about claw itself; answers nothing, so messages stay pending."""
    outbox = write_reply(
        session,
        group_id=group_id,
        channel=pending[-1].channel,
        chat_id=pending[-1].chat_id,
        text=text,
        kind="notice",
    )
    return outbox.id


def answer_pending(
    settings: Settings,
    provider: Provider,
    group_id: str,
    *,
    on_text: Callable[[str], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> TurnResult:
    """Run the agent over the group's pending messages and commit its reply.

    The caller holds the group's lease; this function still guards the commit itself.
    """
    began = time.monotonic()
    with read_session() as session:
        journal = open_journal(session, group_id)
        batch = journaled_batch(session, journal) if journal is not None else None
        now = utcnow()
        if batch is not None:
            pending = batch  # a redone turn: the same batch, at once (no cooldown)
        else:
            pending = pending_messages(session, group_id)
            if not pending:
                return TurnResult(TurnOutcome.IDLE)
            left = cooldown_left(pending, settings.cooldown, now)
            if left > 0:
                return TurnResult(TurnOutcome.COOLING, retry_in=left)
        group = session.get(Group, group_id)
        assert group is not None
        if group.access != GroupAccess.APPROVED:
            return TurnResult(TurnOutcome.IDLE)  # its messages wait for the owner's approval
        # A group folder from before the scratch split is moved over before anything in it is
        # read (one stat when it already was); reads are safe either way (claw/safe_fs.py).
        _ensure_layout(settings, group_id)
        quota.remount(settings, group_id)  # after a reboot: the group's files are in its image
        turn = build_turn_input(session, settings, group, pending)
        approved_at = group.approved_at
        ctx = ToolContext(group_id, settings.workspace, settings, is_main=group.is_main,
                          timezone=turn.timezone)
        registry = registry_for(settings, group.settings)
    if journal is not None and batch is None:  # stale: its batch was answered or set aside
        with write_session() as session:
            discard_journal(session, group_id)
        journal = None
    if journal is None:
        journal = TurnJournal(group_id, [m.id for m in pending], now)
    else:
        log.info("turn_resumed group=%s journal=%s messages=%d", group_id, journal.journal_id, len(pending))
    if on_start is not None:
        on_start()  # the model is about to be asked: "typing…"
    # The turn's span, from before the model is asked to after its reply is committed: tests
    # read these lines to see that two turns of one group never overlap (the shard queue, its
    # single concurrency and the lease keep them apart, before the commit guard would).
    log.info("turn_began group=%s pid=%d at=%.6f", group_id, os.getpid(), time.time())
    try:
        return _run_and_commit(settings, provider, group_id, pending, turn, ctx, journal, now, on_text,
                               registry=registry, approved_at=approved_at, began=began)
    finally:
        log.info("turn_ended group=%s pid=%d at=%.6f", group_id, os.getpid(), time.time())


def _run_and_commit(
    settings: Settings, provider: Provider, group_id: str, pending: list[Message], turn: TurnInput,
    ctx: ToolContext, journal: TurnJournal, now: datetime, on_text: Callable[[str], None] | None,
    *, registry: ToolRegistry, approved_at: datetime | None, began: float,
) -> TurnResult:
    fault_point("turn.before_agent")
    fault_point(f"turn.before_agent@{group_id}")  # one group only, so tests share a stack
    try:
        reply = run_agent(
            provider,
            turn,
            registry,
            ctx,
            max_iterations=settings.max_iterations,
            history_token_budget=settings.history_token_budget,
            on_text=on_text,
            journal=journal,
        )
    except BatchAnswered:  # lost its lease (e.g. stopped) and the group's batch moved on
        log.warning("turn_raced group=%s reason=batch_answered", group_id)
        return TurnResult(TurnOutcome.RACED)
    except ProviderError as exc:
        log.warning("turn_model_failed group=%s retryable=%s error=%s", group_id, exc.retryable, exc)
        return TurnResult(TurnOutcome.FAILED, error=exc, newest_pending_id=pending[-1].id)
    text = reply.text
    if is_stale(pending, settings.stale_after, now, since=approved_at):
        text = f"{STALE_APOLOGY}\n{text}"
    fault_point("turn.before_commit")
    try:
        with write_session() as session:
            outbox_id = commit_reply(session, group_id, pending, reply, text, started_at=now, prices=settings.prices)
            journal.close(session)
    except AlreadyAnswered:
        log.warning("turn_raced group=%s", group_id)
        return TurnResult(TurnOutcome.RACED)
    # committed, not yet acknowledged to the broker: a kill here redoes a turn with nothing left
    fault_point("turn.after_commit")
    fault_point(f"turn.after_commit@{group_id}")
    record_turn(settings.workspace, group_id, turn.new_messages, text, tz=turn.timezone, at=now,
                tools=reply.tools_used)
    log.info("turn_replied group=%s answered=%d tools=%s tokens=%d/%d seconds=%.1f outbox=%d", group_id,
             len(pending), tools_summary(reply.tools_used), sum(u.input_tokens for u in reply.usage),
             sum(u.output_tokens for u in reply.usage), time.monotonic() - began, outbox_id)
    return TurnResult(TurnOutcome.REPLIED, outbox_id=outbox_id, answered=len(pending))


def tools_summary(names: list[str]) -> str:
    """``web_fetch,save_memory*2`` for the turn's log line; ``-`` when no tool ran."""
    counts = Counter(names)
    return ",".join(f"{name}*{n}" if n > 1 else name for name, n in counts.items()) or "-"


def notify_failure(group_id: str, text: str) -> int | None:
    """Write a notice to the group's outbox (None if it has nothing pending any more)."""
    with write_session() as session:
        pending = pending_messages(session, group_id)
        return commit_notice(session, group_id, pending, text) if pending else None

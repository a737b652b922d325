"""The tables: groups, pairings, messages, outbox, usage, poll cursors, schedules and turn journals."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

#: the largest id a BigInteger column holds; the API refuses larger ones with a 422
MAX_ID = 2**63 - 1


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Channel(StrEnum):
    HTTP = "http"
    TERMINAL = "terminal"
    WEB = "web"
    API = "api"  #: the OpenAI-compatible chat completions route (claw/api/openai_routes.py)
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"


class GroupAccess(StrEnum):
    APPROVED = "approved"  #: its messages are answered
    WAITING = "waiting"  #: a new chat waiting for its owner to approve its pairing code
    BLOCKED = "blocked"  #: refused by its owner: its messages are dropped


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Group(Base):
    """A chat the assistant lives in; its id is ``<channel>:<chat_id>``."""

    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    priority: Mapped[bool] = mapped_column(Boolean, default=False)
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: "mention": only messages that address claw start a turn (the rest are context);
    #: "always": every message does (claw.pipeline.addressing)
    respond: Mapped[str] = mapped_column(String(16), default="always", server_default="always")
    #: "approved", "waiting" (for its owner's approval of a pairing code) or "blocked"
    #: (claw.pipeline.pairing); only an approved group's messages reach the model
    access: Mapped[str] = mapped_column(String(16), default="approved", server_default="approved")
    #: when its owner approved it (NULL: approved from the start); its wait before does not
    #: count as claw being slow to reply
    approved_at: Mapped[datetime | None]
    #: the newest user message a committed turn has answered (informational; pending
    #: messages are found by ``Message.answered_by``)
    last_processed_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """A user message or an assistant reply, stored before anything else happens to it."""

    __tablename__ = "messages"
    __table_args__ = (
        # an external id names a message within its chat: the same id in two chats is two messages
        UniqueConstraint("channel", "chat_id", "external_id", name="uq_messages_chat_external_id"),
        Index("ix_messages_group_id_id", "group_id", "id"),
        Index("ix_messages_pending", "group_id", "answered_by", "role"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"))
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # "user" | "assistant"
    #: "chat" for the conversation; "notice" for replies about claw itself (a model outage)
    #: that the user sees but the model's history leaves out
    kind: Mapped[str] = mapped_column(String(16), default="chat", server_default="chat")
    sender: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: whether the message starts a turn: False for a group message that does not address
    #: claw (trigger word, @mention, reply to claw), which the next turn only sees as context
    addressed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: the outbox row whose reply answered this user message; NULL while it is pending.
    #: A flag per message (not a high-water mark) because PostgreSQL ids can commit out of order.
    answered_by: Mapped[int | None] = mapped_column(BigInteger)
    #: when claw gave up on this user message after its turn kept failing (NULL otherwise).
    #: A set-aside message is not pending: later messages are answered past it, and
    #: `claw groups retry` puts it back by clearing this.
    set_aside_at: Mapped[datetime | None]
    #: why it was set aside, as the group was told ("FaultInjected: …", "interrupted")
    set_aside_reason: Mapped[str | None] = mapped_column(Text)

    @classmethod
    def unanswered_in(cls, group_id: str) -> ColumnElement[bool]:
        """The group's user messages no reply has answered (pending or set aside)."""
        return and_(cls.group_id == group_id, cls.role == "user", cls.answered_by.is_(None))

    @classmethod
    def pending_in(cls, group_id: str) -> ColumnElement[bool]:
        """The group's pending messages: unanswered, addressed to claw and not set aside. One
        predicate for every reader (turns, the sweeper, set-aside), so they never disagree on
        what is owed. A message that does not address claw is never owed an answer."""
        return and_(cls.unanswered_in(group_id), cls.set_aside_at.is_(None), cls.addressed.is_(True))


class Pairing(Base):
    """A chat waiting for its owner's approval, and the code that approves it (one per group).

    ``notice_id`` is the outbox row that told the chat its code: one per code, so a chat that
    keeps writing is not answered again until the code expires.
    """

    __tablename__ = "pairings"
    __table_args__ = (UniqueConstraint("code", name="uq_pairings_code"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16))
    chat_name: Mapped[str | None] = mapped_column(String(255))
    first_sender: Mapped[str] = mapped_column(String(255))
    first_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    notice_id: Mapped[int | None] = mapped_column(BigInteger)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Outbox(Base):
    """A reply waiting to be delivered by its channel; send tasks move it to ``sent``.

    Replies of one chat go out oldest first (claw/pipeline/delivery.py). A failed attempt
    leaves the row ``pending`` with ``next_attempt_at`` set; retries stop (``failed``, still
    retryable with `claw outbox retry`) CLAW_SEND_GIVE_UP_AFTER hours after ``first_failed_at``.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status", "status"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    #: the assistant message this row delivers (None for replies not kept in history)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    #: highest user message id the reply answers, so a waiting client can find its reply
    answers_upto_id: Mapped[int] = mapped_column(BigInteger, default=0)
    text: Mapped[str] = mapped_column(Text)
    #: when the turn that wrote this reply started; with created_at it spans the turn
    turn_started_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    #: when the next attempt is due after a failure; NULL means now
    next_attempt_at: Mapped[datetime | None]
    #: when delivering this reply first failed (the start of its time-bounded retries)
    first_failed_at: Mapped[datetime | None]
    #: how many parts of a split reply (Telegram) are delivered; a retry resumes after them
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Usage(Base):
    """Tokens and cost of one turn; the agent fills it in."""

    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    model: Mapped[str] = mapped_column(String(128))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PollCursor(Base):
    """Where a polled channel left off; advanced only after the polled messages are stored."""

    __tablename__ = "poll_cursors"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ScheduleKind(StrEnum):
    REMINDER = "reminder"  #: the text goes straight to the outbox
    AGENT_PROMPT = "agent_prompt"  #: the text is injected as a user message, so a turn runs
    SUMMARY = "summary"  #: a turn that summarizes the group's recent conversation


class Schedule(Base):
    """Something the assistant does on its own, on a spec (once, every, daily, weekly, cron).

    ``next_run`` is the due time of the next run (UTC), NULL once the schedule is finished or
    cancelled; a tick claims a run by moving it forward with a compare-and-set.
    """

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_due", "enabled", "next_run"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: the normalised spec ("once 2026-03-01 14:05", "every 2 hours", "daily 09:00", "0 9 * * MON")
    spec: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    next_run: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run: Mapped[datetime | None]
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    #: {"text": what to say or ask, "request": the spec as it was asked for}
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ScheduleRun(Base):
    """The run log: one row per fired run, unique on (schedule, due time)."""

    __tablename__ = "schedule_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "due_at", name="uq_schedule_runs_schedule_due"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id"))
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the reminder's outbox row, or the injected user message of a prompt or summary
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)


class TurnJournal(Base):
    """A turn's journal, open from its first tool call until its reply is committed.

    At most one per group (a group's turns never overlap). ``message_ids`` is the batch the
    turn answers: a retried turn answers exactly that batch and lets newer messages wait.
    ``key`` is random, not the row id (which SQLite reuses after a delete), because it names
    the journal's effects outside the database, e.g. in memory files.
    """

    __tablename__ = "turn_journals"
    __table_args__ = (
        UniqueConstraint("group_id", name="uq_turn_journals_group_id"),
        UniqueConstraint("key", name="uq_turn_journals_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"))
    key: Mapped[str] = mapped_column(String(32))
    message_ids: Mapped[list[int]] = mapped_column(JSON)
    started_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TurnStep(Base):
    """One journaled step of a turn, addressed by (step, call, request):

    - (s, 0, 0): the model's s-th response (its content blocks and token usage)
    - (s, c, 0): the result of that response's c-th tool call
    - (s, c, r): the result of the r-th host request (file IPC) of the code that call ran
    - (s, c, -1): what that call noted before its effect (where write_file's append starts)
    """

    __tablename__ = "turn_steps"
    __table_args__ = (
        UniqueConstraint("journal_id", "step", "call", "request", name="uq_turn_steps_address"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    journal_id: Mapped[int] = mapped_column(ForeignKey("turn_journals.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    call: Mapped[int] = mapped_column(Integer, default=0)
    request: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

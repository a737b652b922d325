"""claw.pipeline.sweeper: which groups the sweeper hands a turn (a lost turn message, a worker
that died) and which it leaves alone (cooling down, answered, set aside). Real database,
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from claw.db import Group, Message, read_session, write_session
from claw.db.models import GroupAccess, utcnow
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.sweeper import groups_waiting


def store(db_url: str, chat_id: str, seconds_ago: float, text: str = "hello") -> int:
    with write_session(db_url) as session:
        return store_message(session, IncomingMessage(
            "http", chat_id, "ann", text, None, utcnow() - timedelta(seconds=seconds_ago))).id


def waiting(db_url: str, quiet_for: float = 30.0) -> list[tuple[str, bool]]:
    with read_session(db_url) as session:
        return sorted(groups_waiting(session, quiet_for=quiet_for))


def test_a_group_quiet_for_long_enough_with_an_unanswered_message_is_handed_a_turn(db_url: str) -> None:
    store(db_url, "old", 120)
    assert waiting(db_url) == [("http:old", False)]


def test_a_group_whose_newest_message_is_still_cooling_is_left_to_its_own_turn(db_url: str) -> None:
    # Given a group with an old unanswered message and a fresh one
    store(db_url, "busy", 120)
    store(db_url, "busy", 5)
    # Then it waits until its newest message is quiet_for old
    assert waiting(db_url, quiet_for=30) == []
    assert waiting(db_url, quiet_for=2) == [("http:busy", False)]


def test_answered_and_set_aside_messages_and_claws_own_do_not_make_a_group_wait(db_url: str) -> None:
    answered = store(db_url, "answered", 120)
    aside = store(db_url, "aside", 120)
    own = store(db_url, "own", 120)
    with write_session(db_url) as session:
        session.execute(update(Message).where(Message.id == answered).values(answered_by=answered))
        session.execute(update(Message).where(Message.id == aside).values(set_aside_at=utcnow()))
        session.execute(update(Message).where(Message.id == own).values(role="assistant"))
    assert waiting(db_url) == []


def test_each_waiting_group_is_listed_once_with_its_priority(db_url: str) -> None:
    for seconds_ago in (300, 200, 100):
        store(db_url, "vip", seconds_ago)
    store(db_url, "plain", 100)
    with write_session(db_url) as session:
        session.execute(update(Group).where(Group.id == "http:vip").values(priority=True))
    assert waiting(db_url) == [("http:plain", False), ("http:vip", True)]


def test_a_chat_waiting_for_approval_or_blocked_is_never_handed_a_turn(db_url: str) -> None:
    # Given three chats with old unanswered messages: one approved, one waiting for its owner's
    # approval, one blocked after it wrote
    for chat in ("approved", "waiting", "blocked"):
        store(db_url, chat, 120)
    with write_session(db_url) as session:
        for chat, access in (("waiting", GroupAccess.WAITING), ("blocked", GroupAccess.BLOCKED)):
            session.execute(update(Group).where(Group.id == f"http:{chat}").values(access=access))
    # Then only the approved one is owed a turn
    assert waiting(db_url) == [("http:approved", False)]


def test_every_quiet_group_is_handed_a_turn_whatever_the_others_do(db_url: str) -> None:
    # Given two quiet groups of the same priority and a third still cooling down
    store(db_url, "first", 120)
    store(db_url, "second", 100)
    store(db_url, "cooling", 5)
    # Then both quiet groups get their turn: a busy or a like group hides none
    assert waiting(db_url) == [("http:first", False), ("http:second", False)]


def test_messages_that_did_not_address_claw_do_not_make_a_group_wait(db_url: str) -> None:
    message_id = store(db_url, "chatter", 120)
    with write_session(db_url) as session:
        session.execute(update(Message).where(Message.id == message_id).values(addressed=False))
    assert waiting(db_url) == []


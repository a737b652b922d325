"""claw.pipeline.setaside: a batch that kept failing stops blocking its group, and can come back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from claw.agent import AgentReply
from claw.db import Message, Outbox, read_session, write_session
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.setaside import put_back, set_aside, set_aside_messages
from claw.pipeline.sweeper import groups_waiting
from claw.pipeline.turns import commit_reply, pending_messages, pending_span, recent_history

GROUP = "http:team"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
REASON = "error: FaultInjected: turn.before_agent"


def say(db_url: str, sender: str, text: str, *, chat: str = "team") -> int:
    at = datetime.now(timezone.utc) - timedelta(minutes=5)
    with write_session(db_url) as session:
        return store_message(session, IncomingMessage("http", chat, sender, text, None, at)).id


def give_up(db_url: str, upto_id: int, attempts: int = 3) -> int | None:
    with write_session(db_url) as session:
        return set_aside(session, GROUP, upto_id=upto_id, reason=REASON, attempts=attempts)


def pending_ids(db_url: str) -> list[int]:
    with read_session(db_url) as session:
        return [m.id for m in pending_messages(session, GROUP)]


def test_a_set_aside_batch_is_no_longer_pending_and_the_group_is_told_which_and_why(
    db_url: str,
) -> None:
    # Given two messages a turn kept failing on, and one that came later
    first = say(db_url, "alice", "please summarise the attached report")
    second = say(db_url, "bob", "and mine")
    later = say(db_url, "carol", "hello?")

    # When the batch up to the second is set aside after 3 attempts
    outbox_id = give_up(db_url, second)

    # Then only the later message is pending, and the sweeper still sees the group waiting
    assert pending_ids(db_url) == [later]
    with read_session(db_url) as session:
        assert pending_span(session, GROUP) == (later, later)
        assert [g for g, _ in groups_waiting(session, quiet_for=0)] == [GROUP]
        # And the set-aside messages say when and why
        rows = set_aside_messages(session, GROUP)
        assert [(m.id, m.set_aside_reason) for m in rows] == [(first, REASON), (second, REASON)]
        assert all(m.set_aside_at is not None and m.answered_by is None for m in rows)
        # And one notice tells the group which messages and why, and how to try again
        notice = session.get(Outbox, outbox_id)
        assert notice is not None
        message = session.get(Message, notice.message_id)
        assert message is not None and message.kind == "notice"
    assert notice.text == (
        "Sorry, I couldn't handle 2 messages (alice: \"please summarise the attached report\"; "
        "bob: \"and mine\") after 3 attempts (error: FaultInjected: turn.before_agent), so I've "
        "set them aside and will answer newer messages. To try again: `claw groups retry http:team`."
    )


def test_one_set_aside_message_is_quoted_short(db_url: str) -> None:
    only = say(db_url, "alice", "x" * 5000)

    outbox_id = give_up(db_url, only, attempts=1)

    with read_session(db_url) as session:
        text = session.get_one(Outbox, outbox_id).text
    assert text.startswith(f'Sorry, I couldn\'t handle your message (alice: "{"x" * 59}…") after 1 attempt (')
    assert "set it aside" in text


def test_nothing_pending_sets_nothing_aside_and_says_nothing(db_url: str) -> None:
    message = say(db_url, "alice", "hi")
    with write_session(db_url) as session:
        commit_reply(session, GROUP, pending_messages(session, GROUP), AgentReply("hi"), "hi",
                     started_at=T0)

    assert give_up(db_url, message) is None
    with read_session(db_url) as session:
        assert session.scalars(select(Outbox.text)).all() == ["hi"]


def test_set_aside_messages_stay_out_of_the_models_history(db_url: str) -> None:
    # Given a set-aside message, then a message a later turn answers
    poison = say(db_url, "alice", "the message that crashed every turn")
    give_up(db_url, poison)
    later = say(db_url, "bob", "next")

    # When the later turn reads its history
    with read_session(db_url) as session:
        history = recent_history(session, GROUP, later, 40)

    # Then the set-aside message is not in it (nor the notice about it)
    assert history == []


def test_put_back_makes_them_pending_again_in_their_place(db_url: str) -> None:
    first = say(db_url, "alice", "one")
    second = say(db_url, "bob", "two")
    give_up(db_url, second)
    later = say(db_url, "carol", "three")

    with write_session(db_url) as session:
        assert put_back(session, GROUP) == [first, second]

    assert pending_ids(db_url) == [first, second, later]
    with read_session(db_url) as session:
        assert set_aside_messages(session, GROUP) == []
        assert session.get_one(Message, first).set_aside_reason is None
    with write_session(db_url) as session:
        assert put_back(session, GROUP) == []  # twice is harmless


def test_put_back_can_take_just_some_messages(db_url: str) -> None:
    first = say(db_url, "alice", "one")
    second = say(db_url, "bob", "two")
    give_up(db_url, second)

    with write_session(db_url) as session:
        assert put_back(session, GROUP, [second, 999_999]) == [second]

    assert pending_ids(db_url) == [second]
    with read_session(db_url) as session:
        assert [m.id for m in set_aside_messages(session, GROUP)] == [first]


def test_one_group_never_lists_or_puts_back_another_groups_set_aside_messages(db_url: str) -> None:
    # Given a message set aside in this group and one in another
    ours = say(db_url, "alice", "ours")
    theirs = say(db_url, "mallory", "theirs", chat="other")
    give_up(db_url, ours)
    with write_session(db_url) as session:
        set_aside(session, "http:other", upto_id=theirs, reason=REASON, attempts=3)

    # When this group lists its set-aside messages, and puts back all of them, and the other's by id
    with write_session(db_url) as session:
        listed = [m.id for m in set_aside_messages(session, GROUP)]
        named = put_back(session, GROUP, [theirs])
        everything = put_back(session, GROUP)

    # Then only its own are listed and put back; the other group's stays set aside
    assert (listed, named, everything) == ([ours], [], [ours])
    with read_session(db_url) as session:
        assert [m.id for m in set_aside_messages(session, "http:other")] == [theirs]
        assert [m.id for m in pending_messages(session, "http:other")] == []

"""claw.pipeline.outbox: claiming, marking and handing back replies waiting to be delivered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from claw.db import Message, Outbox, read_session, write_session
from claw.db.models import OutboxStatus
from claw.pipeline.inbox import ensure_group
from claw.pipeline.outbox import (
    as_utc,
    claim,
    defer,
    fail,
    failing_since,
    head_of_chat,
    mark_part_sent,
    mark_sent,
    retry,
    unsent_ids,
    unsent_rows,
    write_reply,
)

GROUP = "http:team"
OTHER = "http:other"


def ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def add_reply(db_url: str, text: str = "hi", *, created_at: datetime | None = None,
              chat: str = "team") -> int:
    with write_session(db_url) as session:
        ensure_group(session, "http", chat)
        row = Outbox(group_id=f"http:{chat}", text=text,
                     created_at=created_at or datetime.now(timezone.utc))
        session.add(row)
        session.flush()
        return row.id


def row(db_url: str, outbox_id: int) -> Outbox:
    with read_session(db_url) as session:
        found = session.get(Outbox, outbox_id)
        assert found is not None
        return found


def set_row(db_url: str, outbox_id: int, **values: object) -> None:
    with write_session(db_url) as session:
        session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def test_a_new_reply_is_pending_with_no_attempts(db_url: str) -> None:
    reply = row(db_url, add_reply(db_url))

    assert (reply.status, reply.attempts, reply.claimed_at, reply.sent_at) == (
        OutboxStatus.PENDING, 0, None, None)


def test_claim_moves_a_pending_row_to_sending_and_counts_the_attempt(db_url: str) -> None:
    outbox_id = add_reply(db_url, "hello")

    with write_session(db_url) as session:
        claimed = claim(session, outbox_id)
        assert claimed is not None
        assert (claimed.id, claimed.text) == (outbox_id, "hello")

    stored = row(db_url, outbox_id)
    assert stored.status == OutboxStatus.SENDING
    assert stored.attempts == 1
    assert stored.claimed_at is not None


def test_claim_is_a_compare_and_set(db_url: str) -> None:
    # Given a row one sender claimed
    outbox_id = add_reply(db_url)
    with write_session(db_url) as session:
        assert claim(session, outbox_id) is not None

    # When a second sender (a redelivered send task) claims it too
    with write_session(db_url) as session:
        second = claim(session, outbox_id)

    # Then it gets nothing, and the attempt is not counted twice
    assert second is None
    assert row(db_url, outbox_id).attempts == 1


def test_claim_of_a_sent_failed_or_missing_row_returns_none(db_url: str) -> None:
    sent, failed = add_reply(db_url), add_reply(db_url)
    set_row(db_url, sent, status=OutboxStatus.SENT)
    set_row(db_url, failed, status=OutboxStatus.FAILED)

    with write_session(db_url) as session:
        assert claim(session, sent) is None
        assert claim(session, failed) is None
        assert claim(session, 999_999) is None
    assert row(db_url, sent).attempts == row(db_url, failed).attempts == 0


def test_mark_sent_records_the_delivery_and_clears_the_error(db_url: str) -> None:
    outbox_id = add_reply(db_url)
    set_row(db_url, outbox_id, last_error="earlier failure")
    with write_session(db_url) as session:
        claim(session, outbox_id)

    with write_session(db_url) as session:
        mark_sent(session, outbox_id)

    stored = row(db_url, outbox_id)
    assert stored.status == OutboxStatus.SENT
    assert stored.sent_at is not None
    assert stored.last_error is None
    # a sent row is never claimed again
    with write_session(db_url) as session:
        assert claim(session, outbox_id) is None


def test_defer_returns_the_row_to_pending_until_its_next_attempt(db_url: str) -> None:
    # Given a claimed row whose delivery failed
    outbox_id = add_reply(db_url)
    with write_session(db_url) as session:
        claim(session, outbox_id)

    # When it is deferred for 30 s
    retry_at = datetime.now(timezone.utc) + timedelta(seconds=30)
    with write_session(db_url) as session:
        defer(session, outbox_id, "bridge down", retry_at=retry_at)

    # Then it is pending again with the error, the next attempt and when failing began
    stored = row(db_url, outbox_id)
    assert (stored.status, stored.last_error, stored.claimed_at) == (
        OutboxStatus.PENDING, "bridge down", None)
    assert abs((as_utc(stored.next_attempt_at) - retry_at).total_seconds()) < 0.01  # type: ignore[arg-type]
    first_failed = stored.first_failed_at
    assert first_failed is not None
    # And a second failure keeps the time the failing began
    with write_session(db_url) as session:
        assert claim(session, outbox_id) is not None
        defer(session, outbox_id, "still down", retry_at=retry_at)
    assert row(db_url, outbox_id).first_failed_at == first_failed
    assert row(db_url, outbox_id).attempts == 2


def test_fail_keeps_the_row_visible_and_unclaimable(db_url: str) -> None:
    outbox_id = add_reply(db_url)
    first_failed = ago(3600)
    with write_session(db_url) as session:
        claim(session, outbox_id)
    set_row(db_url, outbox_id, next_attempt_at=ago(-30), first_failed_at=first_failed)

    with write_session(db_url) as session:
        fail(session, outbox_id, "x" * 2000)

    stored = row(db_url, outbox_id)
    assert stored.status == OutboxStatus.FAILED
    assert stored.last_error == "x" * 500  # long errors are cut
    # (no sender holds it, no retry is planned, and its failing streak keeps its start)
    assert (stored.claimed_at, stored.next_attempt_at) == (None, None)
    assert abs((as_utc(stored.first_failed_at) - first_failed).total_seconds()) < 0.01  # type: ignore[arg-type]
    with write_session(db_url) as session:
        assert claim(session, outbox_id) is None
        assert [r.id for r in unsent_rows(session)] == [outbox_id]


def test_the_head_of_a_chat_is_its_oldest_undelivered_reply(db_url: str) -> None:
    # Given a chat with a sent reply, a failed one, then two pending; and another chat
    sent, failed, first, second = (add_reply(db_url, t) for t in ("a", "b", "c", "d"))
    other = add_reply(db_url, "e", chat="other")
    set_row(db_url, sent, status=OutboxStatus.SENT)
    set_row(db_url, failed, status=OutboxStatus.FAILED)

    with read_session(db_url) as session:
        head = head_of_chat(session, GROUP)
        other_head = head_of_chat(session, OTHER)
    # Then the first pending one is next; a failed reply no longer holds the chat back
    assert head is not None and head.id == first
    assert other_head is not None and other_head.id == other
    # And a reply being sent stays the head until it is delivered
    set_row(db_url, first, status=OutboxStatus.SENDING)
    with read_session(db_url) as session:
        assert head_of_chat(session, GROUP).id == first  # type: ignore[union-attr]
    set_row(db_url, first, status=OutboxStatus.SENT)
    with read_session(db_url) as session:
        assert head_of_chat(session, GROUP).id == second  # type: ignore[union-attr]


def test_mark_part_sent_records_progress_and_mark_sent_all_parts(db_url: str) -> None:
    outbox_id = add_reply(db_url)
    with write_session(db_url) as session:
        claim(session, outbox_id)
    set_row(db_url, outbox_id, claimed_at=ago(50))

    with write_session(db_url) as session:
        mark_part_sent(session, outbox_id, 2)
    stored = row(db_url, outbox_id)
    assert stored.parts_sent == 2
    assert as_utc(stored.claimed_at) > ago(5)  # type: ignore[arg-type]  # a heartbeat

    with write_session(db_url) as session:
        mark_sent(session, outbox_id, parts=3)
    assert (row(db_url, outbox_id).status, row(db_url, outbox_id).parts_sent) == ("sent", 3)


def test_failing_since_dates_the_waiting_replies_of_the_chat_only(db_url: str) -> None:
    waiting, dated, other = add_reply(db_url), add_reply(db_url), add_reply(db_url, chat="other")
    earlier = ago(3600)
    set_row(db_url, dated, first_failed_at=ago(60))

    with write_session(db_url) as session:
        failing_since(session, GROUP, earlier)

    assert abs((as_utc(row(db_url, waiting).first_failed_at) - earlier).total_seconds()) < 0.01  # type: ignore[arg-type]
    assert as_utc(row(db_url, dated).first_failed_at) > ago(120)  # type: ignore[arg-type]
    assert row(db_url, other).first_failed_at is None


def test_retry_makes_failed_and_waiting_replies_due_again_keeping_parts_sent(db_url: str) -> None:
    # Given a failed split reply whose first part went out, a reply in backoff, and a sent one
    failed, waiting, sent = add_reply(db_url), add_reply(db_url), add_reply(db_url, chat="other")
    set_row(db_url, failed, status=OutboxStatus.FAILED, attempts=9, parts_sent=1,
            first_failed_at=ago(90_000), last_error="HTTP 503")
    set_row(db_url, waiting, next_attempt_at=ago(-300), first_failed_at=ago(60), attempts=3)
    set_row(db_url, sent, status=OutboxStatus.SENT)

    # When the failed one is retried by id
    with write_session(db_url) as session:
        assert retry(session, outbox_id=failed) == [failed]
    # Then it is pending and due now, its clock restarted, its delivered part still counted
    again = row(db_url, failed)
    assert (again.status, again.next_attempt_at, again.first_failed_at, again.attempts,
            again.parts_sent, again.last_error) == ("pending", None, None, 0, 1, "HTTP 503")
    assert row(db_url, waiting).next_attempt_at is not None

    # When the whole group is retried, the reply in backoff is due now too; a sent one is untouched
    with write_session(db_url) as session:
        assert retry(session, group_id=GROUP) == [failed, waiting]
        assert retry(session, outbox_id=sent) == []
    assert row(db_url, waiting).next_attempt_at is None
    assert row(db_url, sent).status == OutboxStatus.SENT


def test_unsent_ids_returns_pending_rows_older_than_older_than(db_url: str) -> None:
    # Given an old pending row, a fresh pending row, and old sent/failed rows, each the head of
    # its own chat (the sweeper looks at heads only)
    old = add_reply(db_url, created_at=ago(60))
    add_reply(db_url, created_at=ago(1), chat="fresh")
    sent = add_reply(db_url, created_at=ago(60), chat="sent")
    failed = add_reply(db_url, created_at=ago(60), chat="failed")
    set_row(db_url, sent, status=OutboxStatus.SENT, claimed_at=ago(600))
    set_row(db_url, failed, status=OutboxStatus.FAILED, claimed_at=ago(600))

    # When the sweeper asks for rows pending longer than 30 s
    with write_session(db_url) as session:
        ids = unsent_ids(session, older_than=30, stuck_after=120)

    # Then only the old pending row comes back, and the delivered ones stay as they were
    assert ids == [old]
    assert (row(db_url, sent).status, row(db_url, failed).status) == (OutboxStatus.SENT, OutboxStatus.FAILED)


def test_unsent_ids_hands_back_rows_stuck_in_sending(db_url: str) -> None:
    # Given a row claimed 10 minutes ago by a sender that died, and one claimed just now
    stuck = add_reply(db_url, created_at=ago(900))
    busy = add_reply(db_url, created_at=ago(900), chat="busy")
    set_row(db_url, stuck, status=OutboxStatus.SENDING, claimed_at=ago(600), attempts=1)
    set_row(db_url, busy, status=OutboxStatus.SENDING, claimed_at=ago(1), attempts=1)

    # When the sweeper runs with stuck_after=120 s
    with write_session(db_url) as session:
        ids = unsent_ids(session, older_than=30, stuck_after=120)

    # Then the stuck row is pending again and returned; the row still being sent is left alone
    assert ids == [stuck]
    assert (row(db_url, stuck).status, row(db_url, stuck).claimed_at) == (OutboxStatus.PENDING, None)
    assert row(db_url, busy).status == OutboxStatus.SENDING
    # And the handed-back row can be claimed by a new sender
    with write_session(db_url) as session:
        assert claim(session, stuck) is not None
    assert row(db_url, stuck).attempts == 2


def test_a_reply_on_a_pull_channel_is_delivered_on_commit_and_a_push_reply_waits() -> None:
    from claw.pipeline.outbox import new_row

    pulled = new_row(group_id="http:team", channel="http", text="hi")
    pushed = new_row(group_id="whatsapp:1@g.us", channel="whatsapp", text="hi")
    assert (pulled.status, pulled.sent_at is not None) == ("sent", True)
    assert pushed.status is None or pushed.status == "pending"
    assert pushed.sent_at is None


def test_unsent_ids_returns_only_the_head_of_each_chat(db_url: str) -> None:
    # Given two chats, each with two old pending replies
    first, second = add_reply(db_url, created_at=ago(60)), add_reply(db_url, created_at=ago(60))
    other = add_reply(db_url, created_at=ago(60), chat="other")
    add_reply(db_url, created_at=ago(60), chat="other")

    with write_session(db_url) as session:
        ids = unsent_ids(session, older_than=5, stuck_after=120)

    # Then only the oldest of each chat is sent again: it sends the rest in order
    assert ids == [first, other]
    # And once the first is delivered, the second is next
    set_row(db_url, first, status=OutboxStatus.SENT)
    with write_session(db_url) as session:
        assert unsent_ids(session, older_than=5, stuck_after=120) == [second, other]


def test_unsent_ids_leaves_a_chat_alone_until_its_next_attempt_is_due(db_url: str) -> None:
    # Given a chat whose head failed and waits 30 s, and a chat whose head was due 10 s ago
    waiting = add_reply(db_url, created_at=ago(600))
    add_reply(db_url, created_at=ago(600))
    due = add_reply(db_url, created_at=ago(600), chat="other")
    set_row(db_url, waiting, next_attempt_at=ago(-30), first_failed_at=ago(60))
    set_row(db_url, due, next_attempt_at=ago(10), first_failed_at=ago(60))

    with write_session(db_url) as session:
        ids = unsent_ids(session, older_than=5, stuck_after=120)

    # Then neither the waiting head nor the reply behind it is re-queued; the due one is
    assert ids == [due]
    # And when its time has come (and the grace passed), it is
    set_row(db_url, waiting, next_attempt_at=ago(6))
    with write_session(db_url) as session:
        assert unsent_ids(session, older_than=5, stuck_after=120) == [waiting, due]


def test_defer_cuts_a_long_error_to_500_characters(db_url: str) -> None:
    outbox_id = add_reply(db_url)
    with write_session(db_url) as session:
        claim(session, outbox_id)
        defer(session, outbox_id, "x" * 2000, retry_at=ago(-30))

    assert row(db_url, outbox_id).last_error == "x" * 500  # what `claw outbox` shows


def test_a_reply_refused_at_its_first_attempt_is_failing_from_then(db_url: str) -> None:
    # Given a reply never deferred (a channel refused it outright on its first attempt)
    outbox_id = add_reply(db_url)
    with write_session(db_url) as session:
        claim(session, outbox_id)
    before = ago(0)

    # When it fails
    with write_session(db_url) as session:
        fail(session, outbox_id, "chat not found")

    # Then its failing streak starts now
    first_failed = row(db_url, outbox_id).first_failed_at
    assert first_failed is not None
    assert before - timedelta(seconds=1) <= as_utc(first_failed) <= ago(-1)


def test_failing_since_leaves_sent_failed_and_sending_replies_undated(db_url: str) -> None:
    # Given a chat with a sent, a failed, a sending and a waiting reply, none dated
    sent, failed, sending, waiting = (add_reply(db_url) for _ in range(4))
    set_row(db_url, sent, status=OutboxStatus.SENT)
    set_row(db_url, failed, status=OutboxStatus.FAILED)
    set_row(db_url, sending, status=OutboxStatus.SENDING)
    earlier = ago(3600)

    # When the chat's delivery is found failing since an hour ago
    with write_session(db_url) as session:
        failing_since(session, GROUP, earlier)

    # Then only the waiting reply counts its time from then
    assert [row(db_url, i).first_failed_at is None for i in (sent, failed, sending, waiting)] == [
        True, True, True, False]


@pytest.mark.parametrize("channel", ["http", "whatsapp"])
def test_a_written_reply_keeps_its_message_and_what_it_answers_on_any_channel(
    db_url: str, channel: str
) -> None:
    # Given a group on a pull channel (read by its clients) or a push one (sent by a task)
    with write_session(db_url) as session:
        group = ensure_group(session, channel, "team")
        started = ago(5)
        outbox = write_reply(session, group_id=group.id, channel=channel, chat_id="team",
                             text="hello", answers_upto_id=7, turn_started_at=started)
        outbox_id = outbox.id

    # Then the row points at its history message, the batch it answers and its turn's start
    stored = row(db_url, outbox_id)
    with read_session(db_url) as session:
        message = session.get(Message, stored.message_id)
        assert message is not None and (message.role, message.text) == ("assistant", "hello")
    assert stored.answers_upto_id == 7
    assert abs((as_utc(stored.turn_started_at) - started).total_seconds()) < 0.01  # type: ignore[arg-type]
    if channel == "http":
        # And a pull reply is delivered at once: one attempt, claimed when it was sent
        assert (stored.status, stored.attempts) == (OutboxStatus.SENT, 1)
        assert stored.claimed_at is not None and stored.claimed_at == stored.sent_at
    else:
        # And a push reply waits for its sender, unclaimed
        assert (stored.status, stored.attempts, stored.claimed_at, stored.sent_at) == (
            OutboxStatus.PENDING, 0, None, None)

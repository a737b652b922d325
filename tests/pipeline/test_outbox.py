"""claw.pipeline.outbox: claiming, marking and handing back replies waiting to be delivered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from claw.db import Outbox, read_session, write_session
from claw.db.models import OutboxStatus
from claw.pipeline.inbox import ensure_group
from claw.pipeline.outbox import claim, give_back, mark_sent, unsent_ids

GROUP = "http:team"


def ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def add_reply(db_url: str, text: str = "hi", *, created_at: datetime | None = None) -> int:
    with write_session(db_url) as session:
        ensure_group(session, "http", "team")
        row = Outbox(group_id=GROUP, text=text, created_at=created_at or datetime.now(timezone.utc))
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


def test_give_back_returns_the_row_to_pending_for_another_attempt(db_url: str) -> None:
    # Given a claimed row whose delivery failed
    outbox_id = add_reply(db_url)
    with write_session(db_url) as session:
        claim(session, outbox_id)

    # When it is given back, not for the last time
    with write_session(db_url) as session:
        give_back(session, outbox_id, "bridge down", give_up=False)

    # Then it is pending again with the error kept, and can be claimed again
    stored = row(db_url, outbox_id)
    assert (stored.status, stored.last_error, stored.claimed_at) == (
        OutboxStatus.PENDING, "bridge down", None)
    with write_session(db_url) as session:
        assert claim(session, outbox_id) is not None
    assert row(db_url, outbox_id).attempts == 2


def test_give_back_after_the_last_attempt_fails_the_row(db_url: str) -> None:
    outbox_id = add_reply(db_url)
    with write_session(db_url) as session:
        claim(session, outbox_id)

    with write_session(db_url) as session:
        give_back(session, outbox_id, "x" * 2000, give_up=True)

    stored = row(db_url, outbox_id)
    assert stored.status == OutboxStatus.FAILED
    assert stored.last_error == "x" * 500  # long errors are cut
    with write_session(db_url) as session:
        assert claim(session, outbox_id) is None


def test_unsent_ids_returns_pending_rows_older_than_older_than(db_url: str) -> None:
    # Given an old pending row, a fresh pending row, and old sent/failed rows
    old = add_reply(db_url, created_at=ago(60))
    add_reply(db_url, created_at=ago(1))
    sent = add_reply(db_url, created_at=ago(60))
    failed = add_reply(db_url, created_at=ago(60))
    set_row(db_url, sent, status=OutboxStatus.SENT)
    set_row(db_url, failed, status=OutboxStatus.FAILED)

    # When the sweeper asks for rows pending longer than 30 s
    with write_session(db_url) as session:
        ids = unsent_ids(session, older_than=30, stuck_after=120)

    # Then only the old pending row comes back
    assert ids == [old]


def test_unsent_ids_hands_back_rows_stuck_in_sending(db_url: str) -> None:
    # Given a row claimed 10 minutes ago by a sender that died, and one claimed just now
    stuck = add_reply(db_url, created_at=ago(900))
    busy = add_reply(db_url, created_at=ago(900))
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

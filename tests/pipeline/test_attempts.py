"""claw.pipeline.attempts: whatever way a turn fails, it comes back as the group's failure
(real Redis, real database, the real turn with the offline model)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded

from claw.agent.offline import OfflineProvider
from claw.config import Settings, get_settings
from claw.db import read_session, write_session
from claw.faults import reset_fault_points
from claw.pipeline.attempts import attempt_turn
from claw.pipeline.failures import FailureKind, begin_attempt, interrupted_attempt
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.turns import TurnOutcome, TurnResult, answer_pending, pending_messages
from tests.support.databases import as_default_database
from tests.support.redis_server import LocalRedis

# turns put the group's folder in its layout (claw.sandbox.layout, claw.safe_fs): a path taken
# from the cwd by mistake must fail the test, not touch the folder pytest runs in
pytestmark = pytest.mark.usefixtures("empty_cwd")

GROUP = "http:team"


@pytest.fixture
def client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def default_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with as_default_database(db_url, monkeypatch) as url:
        yield url


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fault points for this test only (the turn reads them from the settings)."""
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAW_FAULT_POINTS", f"turn.before_agent@{GROUP}:raise")
    get_settings.cache_clear()
    reset_fault_points()
    yield
    get_settings.cache_clear()
    reset_fault_points()


def settings(tmp_path: Path) -> Settings:
    return Settings(workspace=tmp_path / "workspace", cooldown=0)  # type: ignore[call-arg]


def say(text: str, *, chat: str = "team") -> int:
    at = datetime.now(timezone.utc) - timedelta(seconds=10)
    with write_session() as session:
        return store_message(session, IncomingMessage("http", chat, "alice", text, None, at)).id


def pending_count(group_id: str = GROUP) -> int:
    with read_session() as session:
        return len(pending_messages(session, group_id))


def the_turn(tmp_path: Path, group_id: str = GROUP):  # type: ignore[no-untyped-def]
    return lambda: answer_pending(settings(tmp_path), OfflineProvider(), group_id)


def crash() -> TurnResult:
    raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


def test_an_exception_in_the_turn_is_a_failure_of_the_group_and_loses_nothing(
    default_db: str, client: redis.Redis, tmp_path: Path
) -> None:
    # Given a pending message
    newest = say("hi")
    # When the turn crashes (e.g. reading a CLAUDE.md that code in the sandbox garbled)
    result = attempt_turn(settings(tmp_path), client, GROUP, crash)
    # Then it is a failure of the group's turn, described, covering the batch
    assert result.outcome == TurnOutcome.FAILED
    assert result.failure is not None and result.failure.kind is FailureKind.ERROR
    assert result.failure.detail.startswith("UnicodeDecodeError: 'utf-8' codec can't decode")
    assert result.newest_pending_id == newest
    # And the message is still pending, and the attempt left no marker
    assert pending_count() == 1
    assert interrupted_attempt(client, GROUP) is None


def test_a_fault_point_in_the_turn_fails_that_group_only(
    faults: None, default_db: str, client: redis.Redis, tmp_path: Path
) -> None:
    say("hi")
    say("hello", chat="other")

    failed = attempt_turn(settings(tmp_path), client, GROUP, the_turn(tmp_path))
    other = attempt_turn(settings(tmp_path), client, "http:other", the_turn(tmp_path, "http:other"))

    assert failed.outcome == TurnOutcome.FAILED
    assert failed.failure is not None
    assert failed.failure.detail == f"FaultInjected: turn.before_agent@{GROUP}"
    assert other.outcome == TurnOutcome.REPLIED


def test_the_soft_time_limit_is_a_timeout_failure(
    default_db: str, client: redis.Redis, tmp_path: Path
) -> None:
    say("hi")

    def too_slow() -> TurnResult:
        raise SoftTimeLimitExceeded()

    result = attempt_turn(settings(tmp_path), client, GROUP, too_slow)

    assert result.failure is not None and result.failure.kind is FailureKind.TIMEOUT
    assert str(settings(tmp_path).turn_soft_time_limit) in result.failure.detail


def test_an_attempt_that_died_is_counted_by_the_next_turn_which_does_not_run_it_again(
    default_db: str, client: redis.Redis, tmp_path: Path
) -> None:
    # Given an attempt that was killed while answering the pending message
    newest = say("hi")
    begin_attempt(client, GROUP, newest)
    ran = []

    # When the next turn of the group starts
    result = attempt_turn(settings(tmp_path), client, GROUP, lambda: ran.append(1) or crash())

    # Then it reports the dead attempt as an interrupted failure instead of running at once
    assert result.outcome == TurnOutcome.FAILED
    assert result.failure is not None and result.failure.kind is FailureKind.INTERRUPTED
    assert result.newest_pending_id == newest
    assert ran == []
    # And the one after it (after the backoff) runs normally
    assert interrupted_attempt(client, GROUP) is None
    assert attempt_turn(settings(tmp_path), client, GROUP, the_turn(tmp_path)).outcome == TurnOutcome.REPLIED


def test_an_attempt_that_died_after_its_reply_was_committed_is_no_failure(
    default_db: str, client: redis.Redis, tmp_path: Path
) -> None:
    # Given an attempt that committed its reply and was killed before it could say so
    answered = say("hi")
    assert answer_pending(settings(tmp_path), OfflineProvider(), GROUP).outcome == TurnOutcome.REPLIED
    begin_attempt(client, GROUP, answered)
    say("a new message")

    # When the next turn starts, it answers the new message
    result = attempt_turn(settings(tmp_path), client, GROUP, the_turn(tmp_path))

    assert result.outcome == TurnOutcome.REPLIED
    assert pending_count() == 0


def test_a_model_failure_is_described_as_an_outage(
    default_db: str, client: redis.Redis, tmp_path: Path
) -> None:
    from tests.pipeline.test_turns import FailingModel

    say("hi")

    result = attempt_turn(settings(tmp_path), client, GROUP,
                          lambda: answer_pending(settings(tmp_path), FailingModel(), GROUP))

    assert result.failure is not None
    assert (result.failure.kind, result.failure.detail) == (FailureKind.OUTAGE, "model down")


def test_nothing_pending_is_idle_without_running_the_turn(
    default_db: str, client: redis.Redis, tmp_path: Path
) -> None:
    assert attempt_turn(settings(tmp_path), client, GROUP, crash) == TurnResult(TurnOutcome.IDLE)

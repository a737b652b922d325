"""claw.pipeline.failures: a failed turn is counted, told once, backed off, and given up on in
bounded time (real Redis)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded

from claw.agent import ProviderError
from claw.config import get_settings
from claw.pipeline import dispatch
from claw.pipeline.failures import (
    BACKOFF_GRACE_SECONDS,
    DETAIL_CHARS,
    MAX_BACKOFF_SECONDS,
    MEMORY_SECONDS,
    MODEL_ANSWERED_KEY,
    Failure,
    FailureKind,
    Verdict,
    backoff_blocks,
    begin_attempt,
    clear_failures,
    describe_failure,
    end_attempt,
    in_backoff,
    in_words,
    interrupted_attempt,
    interrupted_failure,
    note_failure,
    note_model_answered,
    notice_text,
    replace_attempt,
)
from claw.redis_client import get_redis
from tests.support.redis_server import LocalRedis

GROUP = "http:team"
CRASH = Failure(FailureKind.ERROR, "UnicodeDecodeError: invalid start byte")
OUTAGE = Failure(FailureKind.OUTAGE, "Claude is overloaded")


@pytest.fixture
def client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


def fail(client: redis.Redis, failure: Failure = CRASH, *, now: float = 1000.0,
         max_attempts: int = 5, give_up_after: float = 3600.0, base_delay: float = 30.0):
    return note_failure(client, GROUP, failure, base_delay=base_delay, max_attempts=max_attempts,
                        give_up_after=give_up_after, now=now)


# ---- one notice, doubling backoff, one retry chain ---------------------------------------


def test_a_streak_is_told_once_and_backs_off_doubling_up_to_ten_minutes(client: redis.Redis) -> None:
    # When a group's turn fails again and again (a model outage: never given up)
    verdicts = [fail(client, OUTAGE, now=1000.0 + i) for i in range(7)]

    # Then only the first failure tells the group
    assert [v.notify for v in verdicts] == [True] + [False] * 6
    # And each failure doubles the wait, up to ten minutes
    assert [v.retry_in for v in verdicts] == [30, 60, 120, 240, 480, 600, 600]
    assert MAX_BACKOFF_SECONDS == 600
    assert not any(v.give_up for v in verdicts)
    # And the backoff key outlives the planned retry, so the sweeper leaves the group alone
    assert in_backoff(client, GROUP)
    assert 600 < client.ttl(f"claw:turn-backoff:{GROUP}") <= 600 + BACKOFF_GRACE_SECONDS


def test_only_the_latest_retry_chain_may_run_during_a_backoff(client: redis.Redis) -> None:
    # Given no failure: every turn may run
    assert not backoff_blocks(client, GROUP, None)
    # When a turn fails twice (the second failure is the first chain's retry failing)
    first = fail(client)
    second = fail(client)
    # Then only a turn carrying the newest chain's token may run
    assert first.token != second.token
    assert not backoff_blocks(client, GROUP, second.token)
    assert backoff_blocks(client, GROUP, first.token)
    assert backoff_blocks(client, GROUP, None)  # a turn queued by a new message
    # And another group is not affected
    assert not backoff_blocks(client, "http:other", None)


def test_a_new_message_during_a_backoff_does_not_queue_a_turn(
    client: redis.Redis, redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAW_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    get_redis.cache_clear()
    try:
        # Given a group backing off after a failure
        fail(client)
        # When a message arrives and asks for a turn (as the API and ingest do)
        sent = dispatch.enqueue_turn(GROUP)
        forced = dispatch.enqueue_turn(GROUP, force=True)
        # Then no turn is queued: the retry chain will answer it
        assert (sent, forced) == (False, False)
        assert client.keys("claw.shard*") == []
        assert not client.exists(dispatch.turn_queued_key(GROUP))
    finally:
        get_redis.cache_clear()
        get_settings.cache_clear()


def test_a_success_ends_the_streak_and_the_next_failure_is_told_again(client: redis.Redis) -> None:
    fail(client)
    fail(client)
    clear_failures(client, GROUP)

    assert not in_backoff(client, GROUP)
    verdict = fail(client)
    assert (verdict.notify, verdict.retry_in, verdict.attempts) == (True, 30, 1)


# ---- giving up on a batch -----------------------------------------------------------------


def test_a_batch_that_keeps_failing_is_given_up_after_max_attempts(client: redis.Redis) -> None:
    verdicts = [fail(client, max_attempts=3, now=1000.0 + i) for i in range(3)]

    assert [v.give_up for v in verdicts] == [False, False, True]
    assert [v.attempts for v in verdicts] == [1, 2, 3]
    # A batch given up on is not retried: no backoff is left behind for it
    assert verdicts[-1].token == ""


def test_a_batch_given_up_on_its_first_failure_is_told_and_plans_no_retry(client: redis.Redis) -> None:
    # Given a deployment that gives a batch one try only
    verdict = fail(client, max_attempts=1)
    # Then the first failure gives it up at once: no retry planned, no chain, no backoff left
    assert verdict == Verdict(notify=True, retry_in=0.0, give_up=True, attempts=1, token="")
    assert not in_backoff(client, GROUP)


def test_a_batch_is_given_up_after_give_up_after_seconds_of_failures(client: redis.Redis) -> None:
    first = fail(client, now=1000.0, give_up_after=600)
    later = fail(client, now=1599.0, give_up_after=600)
    last = fail(client, now=1600.0, give_up_after=600)

    assert (first.give_up, later.give_up, last.give_up) == (False, False, True)


def test_a_model_outage_never_gives_the_batch_up_and_does_not_count_against_it(
    client: redis.Redis,
) -> None:
    # Given a long outage: many failures over two hours
    for i in range(10):
        assert not fail(client, OUTAGE, now=1000.0 + i * 900, max_attempts=3, give_up_after=600).give_up
    # When the batch itself then fails (the outage is over, the turn crashes)
    verdict = fail(client, CRASH, now=10_000.0, max_attempts=3, give_up_after=600)
    # Then that is its first attempt, not its eleventh, and the group is not told again
    assert (verdict.attempts, verdict.give_up, verdict.notify) == (1, False, False)


def test_a_batch_the_model_keeps_failing_while_it_answers_others_is_given_up(
    client: redis.Redis,
) -> None:
    # Given a message the API keeps failing with a 5xx (an "outage" for this group only),
    # while the model answers other groups between each of its tries
    verdicts = []
    for i in range(6):
        verdicts.append(fail(client, OUTAGE, now=1000.0 + i * 300, max_attempts=3, give_up_after=600))
        note_model_answered(client, now=1000.0 + i * 300 + 1)
    # Then the first failure backs off as an outage, the next ones count against the batch,
    # and it is given up once both max_attempts and give_up_after are reached: not blocked forever
    assert [v.give_up for v in verdicts[:3]] == [False, False, False]
    assert verdicts[3].give_up is True  # 3 failures while others were served, over 600 s
    assert verdicts[0].notify and not any(v.notify for v in verdicts[1:4])
    # And until then each failure doubles the wait of the group's one retry chain
    assert [v.retry_in for v in verdicts[:3]] == [30, 60, 120]
    assert all(v.token for v in verdicts[:3]) and len({v.token for v in verdicts[:3]}) == 3
    assert client.get(f"claw:turn-backoff:{GROUP}") == verdicts[2].token.encode()
    # And the give-up says how many served failures it took, with no retry and no chain
    assert (verdicts[3].notify, verdicts[3].retry_in, verdicts[3].attempts, verdicts[3].token) == (
        False, 0.0, 3, "")


def test_served_failures_need_both_the_count_and_the_time_to_give_a_batch_up(client: redis.Redis) -> None:
    # Given served "outage" failures in quick succession (the count is reached, not the time)
    verdicts = []
    for i in range(5):
        verdicts.append(fail(client, OUTAGE, now=1000.0 + i * 10, max_attempts=3, give_up_after=600))
        note_model_answered(client, now=1000.0 + i * 10 + 1)
    # Then none gives the batch up yet, and the streak's first failure alone told the group
    assert not any(v.give_up for v in verdicts)
    assert [v.notify for v in verdicts] == [True, False, False, False, False]
    # When one comes after give_up_after, Then it does
    assert fail(client, OUTAGE, now=1000.0 + 700, max_attempts=3, give_up_after=600).give_up


def test_a_real_outage_moment_resets_the_served_count(client: redis.Redis) -> None:
    # Given two failures while the model answered others (served), then one with no answer to
    # anyone since the last (a real outage moment)
    fail(client, OUTAGE, now=1000.0, max_attempts=3, give_up_after=600)
    for now in (1400.0, 1800.0):
        note_model_answered(client, now=now - 1)
        assert not fail(client, OUTAGE, now=now, max_attempts=3, give_up_after=600).give_up
    fail(client, OUTAGE, now=2200.0, max_attempts=3, give_up_after=600)
    # Then the served count and its clock start over: two more served failures do not give up
    for now in (2600.0, 3000.0):
        note_model_answered(client, now=now - 1)
        assert not fail(client, OUTAGE, now=now, max_attempts=3, give_up_after=600).give_up
    assert client.hget(f"claw:turn-streak:{GROUP}", "served_outages") == b"2"


def test_a_real_outage_between_tries_starts_the_count_over(client: redis.Redis) -> None:
    # Given the model answered others between some tries but not all (it was down meanwhile)
    for i in range(12):
        if i % 3:  # every third gap, nobody was answered: a genuine outage moment
            note_model_answered(client, now=1000.0 + i * 300 - 1)
        verdict = fail(client, OUTAGE, now=1000.0 + i * 300, max_attempts=3, give_up_after=600)
        # Then the batch is never given up: its failures never run max_attempts in a row
        assert not verdict.give_up, i


def test_a_real_outage_moment_restarts_the_served_clock_too(client: redis.Redis) -> None:
    # Given served failures since 1400, then a real outage moment at 2200
    fail(client, OUTAGE, now=1000.0, max_attempts=3, give_up_after=600)
    for now in (1400.0, 1800.0):
        note_model_answered(client, now=now - 1)
        fail(client, OUTAGE, now=now, max_attempts=3, give_up_after=600)
    fail(client, OUTAGE, now=2200.0, max_attempts=3, give_up_after=600)
    # When three served failures follow within seconds (the count is reached)
    verdicts = []
    for now in (2600.0, 2610.0, 2620.0):
        note_model_answered(client, now=now - 1)
        verdicts.append(fail(client, OUTAGE, now=now, max_attempts=3, give_up_after=600))
    # Then the batch is kept: its served failures span 20 s since the outage, not 1220 s
    assert not any(v.give_up for v in verdicts)


def test_served_failures_keep_the_count_of_the_batchs_own_failures(client: redis.Redis) -> None:
    # Given a streak of "outage" failures only, the later ones while the model served others
    first = fail(client, OUTAGE, now=1000.0)
    note_model_answered(client, now=1001.0)
    served = fail(client, OUTAGE, now=1300.0)
    # Then no failure of the batch's own was counted
    assert (first.attempts, served.attempts) == (0, 0)
    # When the turn then crashes once, and fails again while the model serves others
    crash = fail(client, CRASH, now=1600.0)
    note_model_answered(client, now=1601.0)
    again = fail(client, OUTAGE, now=1900.0)
    # Then the crash counts once, and the served failure reports that count (the log and the
    # set-aside note say how many times the batch failed)
    assert (crash.attempts, again.attempts) == (1, 1)
    assert not again.give_up and again.token


def test_the_failure_state_forgets_itself_after_a_day(client: redis.Redis) -> None:
    # State lives in expiring keys: a marker or an answered-at left by a dead deployment must
    # not steer a group's turns forever
    begin_attempt(client, GROUP, 41)
    assert 0 < client.ttl(f"claw:turn-attempt:{GROUP}") <= MEMORY_SECONDS
    assert replace_attempt(client, GROUP, 42) == 41
    assert 0 < client.ttl(f"claw:turn-attempt:{GROUP}") <= MEMORY_SECONDS
    note_model_answered(client, now=1000.0)
    assert 0 < client.ttl(MODEL_ANSWERED_KEY) <= MEMORY_SECONDS
    fail(client)
    assert 0 < client.ttl(f"claw:turn-streak:{GROUP}") <= MEMORY_SECONDS


def test_a_model_answer_is_stamped_with_the_current_time_by_default(client: redis.Redis) -> None:
    before = time.time()
    note_model_answered(client)
    assert before <= float(client.get(MODEL_ANSWERED_KEY)) <= time.time()


# ---- the attempt marker -------------------------------------------------------------------


def test_an_attempt_that_ended_leaves_no_marker_and_one_that_died_does(client: redis.Redis) -> None:
    assert interrupted_attempt(client, GROUP) is None

    begin_attempt(client, GROUP, 41)
    end_attempt(client, GROUP)
    assert interrupted_attempt(client, GROUP) is None

    begin_attempt(client, GROUP, 42)  # … and the process is killed here
    assert interrupted_attempt(client, GROUP) == 42


# ---- what the failure is and what the group is told ----------------------------------------


def test_failures_are_described_by_what_went_wrong() -> None:
    def describe(exc: BaseException) -> Failure:
        return describe_failure(exc, soft_time_limit=570)

    assert describe(ProviderError("overloaded")) == Failure(FailureKind.OUTAGE, "overloaded")
    assert describe(ProviderError("bad key", retryable=False)).kind is FailureKind.MODEL
    assert describe(SoftTimeLimitExceeded()) == Failure(
        FailureKind.TIMEOUT, "over the 570 s time limit of a turn")
    crash = describe(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert crash.kind is FailureKind.ERROR and crash.counts_against_batch
    assert crash.detail.startswith("UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff")
    assert describe(RuntimeError()) == Failure(FailureKind.ERROR, "RuntimeError")
    # a long error is cut: the group gets a hint, not a traceback
    cut = describe(ValueError("x" * 5000)).detail
    assert len(cut) == DETAIL_CHARS == 200 and cut.endswith("x…")
    fits = "x" * (DETAIL_CHARS - len("ValueError: "))
    assert describe(ValueError(fits)).detail == f"ValueError: {fits}"  # exactly 200: shown whole
    assert not describe(ProviderError("overloaded")).counts_against_batch
    assert interrupted_failure().counts_against_batch


def test_the_notice_says_what_happened_that_nothing_is_lost_and_when_claw_tries_again() -> None:
    crash = notice_text(CRASH, retry_in=30)
    assert crash == ("Sorry, something went wrong while answering (UnicodeDecodeError: invalid "
                     "start byte). Your message is kept and I'll try again in 30 s.")
    timeout = notice_text(Failure(FailureKind.TIMEOUT, "over the 570 s time limit of a turn"),
                          retry_in=120)
    assert timeout.startswith("Sorry, that took too long and I had to stop (over the 570 s")
    assert timeout.endswith("try again in 2 min.")
    assert notice_text(interrupted_failure(), retry_in=1) == (
        "Sorry, my answer was interrupted (the process running it stopped). "
        "Your message is kept and I'll try again in 1 s.")
    assert notice_text(OUTAGE, retry_in=30) == (
        "Sorry, I can't reach the model right now (Claude is overloaded). "
        "Your message is kept and I'll answer as soon as it's back.")
    assert notice_text(Failure(FailureKind.MODEL, "401"), retry_in=30) == (
        "Sorry, I can't answer: the model refused the request (401). "
        "Your message is kept; the model settings need a look (`claw doctor`).")


def test_waits_are_told_in_seconds_up_to_a_minute_and_a_half_then_in_minutes() -> None:
    assert [in_words(s) for s in (0.2, 1, 30, 89, 90, 600, 3600)] == [
        "1 s", "1 s", "30 s", "89 s", "2 min", "10 min", "60 min"]

"""When a turn fails: count it, tell the group once, back off, and know when to give up.

Any failure counts, not only the model's: an exception anywhere in the turn, the soft time
limit, and a turn that died without a word (SIGKILL, the hard time limit), which the next turn
finds out from the attempt marker the dead one left behind.

A run of failures without a success is a *streak*. The group hears about a streak once, with
the first failure, however many messages arrive meanwhile. Each failure doubles the wait before
the next try (``base_delay``, capped at ten minutes), and that try is the streak's only *retry
chain*: the backoff key holds the chain's token, and while it exists only a turn carrying that
token runs (claw.pipeline.dispatch refuses other enqueues, the sweeper skips the group).

A model outage is not the batch's fault: it backs off forever and the messages are answered when
the model is back. Unless the model is not down at all: when it answered other groups between
each of this group's "outage" failures (a request the API keeps failing with a 5xx or a timeout
because of what is in it), the batch is the problem, and after ``max_attempts`` such failures
over at least ``give_up_after`` seconds it is given up like any other. Every other failure counts against the batch, and after ``max_attempts`` such
failures, or ``give_up_after`` seconds of them, the turn gives the batch up (claw.pipeline.setaside).

State is a few expiring Redis keys per group: losing them costs at most one extra notice or one
uncounted failure, never a message (those live in the database).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

import redis
from celery.exceptions import SoftTimeLimitExceeded

from claw.agent import ProviderError

STREAK_KEY = "claw:turn-streak:{group_id}"
BACKOFF_KEY = "claw:turn-backoff:{group_id}"
ATTEMPT_KEY = "claw:turn-attempt:{group_id}"
#: when the model last answered a turn of any group (claw.tasks.turn sets it)
MODEL_ANSWERED_KEY = "claw:model-answered-at"
#: keys of earlier versions, removed when a streak ends
LEGACY_KEYS = ("claw:turn-failures:{group_id}", "claw:turn-notified:{group_id}")
MEMORY_SECONDS = 86_400
MAX_BACKOFF_SECONDS = 600.0
#: the backoff key outlives the planned retry by this much, so a lost retry message only delays
#: the group until the sweeper takes over
BACKOFF_GRACE_SECONDS = 60.0
#: longest error description the group is shown
DETAIL_CHARS = 200


class FailureKind(StrEnum):
    OUTAGE = "outage"  #: the model is unreachable or overloaded: not the batch's fault
    MODEL = "model"  #: the model refused the request (bad key, bad request)
    ERROR = "error"  #: any other exception in the turn
    TIMEOUT = "timeout"  #: the turn hit its soft time limit
    INTERRUPTED = "interrupted"  #: an earlier attempt died without finishing (killed)


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    detail: str  #: short, shown to the group

    @property
    def counts_against_batch(self) -> bool:
        return self.kind is not FailureKind.OUTAGE


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do after a failure."""

    notify: bool  #: first failure of the streak: tell the group
    retry_in: float  #: seconds until the retry chain's next turn
    give_up: bool  #: set the batch aside now
    attempts: int  #: failures counted against the batch in this streak
    token: str  #: the retry chain's token ("" when giving up)


def describe_failure(exc: BaseException, *, soft_time_limit: float) -> Failure:
    if isinstance(exc, ProviderError):
        return Failure(FailureKind.OUTAGE if exc.retryable else FailureKind.MODEL, str(exc))
    if isinstance(exc, SoftTimeLimitExceeded):
        return Failure(FailureKind.TIMEOUT, f"over the {soft_time_limit:g} s time limit of a turn")
    text = " ".join(str(exc).split())
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(detail) > DETAIL_CHARS:
        detail = detail[: DETAIL_CHARS - 1] + "…"
    return Failure(FailureKind.ERROR, detail)


def interrupted_failure() -> Failure:
    return Failure(FailureKind.INTERRUPTED, "the process running it stopped")


def note_failure(
    client: redis.Redis,
    group_id: str,
    failure: Failure,
    *,
    base_delay: float,
    max_attempts: int,
    give_up_after: float,
    now: float | None = None,
) -> Verdict:
    """Record a failed turn of the group and decide what comes next."""
    now = time.time() if now is None else now
    key = STREAK_KEY.format(group_id=group_id)
    counts = failure.counts_against_batch
    if not counts and _model_served_others(client, key, now):
        return _served_outage(client, group_id, key, now, base_delay=base_delay,
                              max_attempts=max_attempts, give_up_after=give_up_after)
    if not counts:
        client.hdel(key, "served_outages", "served_since")  # a real outage moment: start over
    pipe = client.pipeline()
    pipe.hincrby(key, "failures", 1)
    pipe.hincrby(key, "attempts", 1 if counts else 0)
    if counts:
        pipe.hsetnx(key, "first_failed_at", now)
    pipe.hget(key, "first_failed_at")
    pipe.hsetnx(key, "notified", 1)
    pipe.expire(key, MEMORY_SECONDS)
    replies = pipe.execute()
    failures, attempts, first_failed_at, notify = (
        int(replies[0]), int(replies[1]), replies[-3], bool(replies[-2]),
    )
    waited = now - float(first_failed_at) if first_failed_at is not None else 0.0
    if counts and (attempts >= max_attempts or waited >= give_up_after):
        return Verdict(notify, 0.0, True, attempts, "")
    return _back_off(client, group_id, failures, notify, attempts, base_delay=base_delay)


def _back_off(client: redis.Redis, group_id: str, failures: int, notify: bool, attempts: int,
              *, base_delay: float) -> Verdict:
    retry_in = min(MAX_BACKOFF_SECONDS, base_delay * 2 ** (failures - 1))
    token = uuid.uuid4().hex
    client.set(
        BACKOFF_KEY.format(group_id=group_id), token,
        ex=max(1, math.ceil(retry_in + BACKOFF_GRACE_SECONDS)),
    )
    return Verdict(notify, retry_in, False, attempts, token)


def note_model_answered(client: redis.Redis, now: float | None = None) -> None:
    """A turn got its answer from the model: the model is up (for the batches it keeps failing)."""
    client.set(MODEL_ANSWERED_KEY, time.time() if now is None else now, ex=MEMORY_SECONDS)


def _model_served_others(client: redis.Redis, key: str, now: float) -> bool:
    """Whether the model answered some turn since this group's previous outage failure."""
    previous, answered = client.hget(key, "last_outage_at"), client.get(MODEL_ANSWERED_KEY)
    client.hset(key, "last_outage_at", now)
    return previous is not None and answered is not None and float(answered) > float(previous)


def _served_outage(client: redis.Redis, group_id: str, key: str, now: float, *,
                   base_delay: float, max_attempts: int, give_up_after: float) -> Verdict:
    """An "outage" failure while the model answered others: it counts against the batch, and
    gives it up after max_attempts of them spanning give_up_after (both: a flaky model must
    not cost a group its batch)."""
    pipe = client.pipeline()
    pipe.hincrby(key, "failures", 1)
    pipe.hincrby(key, "served_outages", 1)
    pipe.hsetnx(key, "served_since", now)
    pipe.hget(key, "served_since")
    pipe.hget(key, "attempts")
    pipe.hsetnx(key, "notified", 1)
    pipe.expire(key, MEMORY_SECONDS)
    failures, served, _, since, attempts, notify, _ = pipe.execute()
    if int(served) >= max_attempts and now - float(since) >= give_up_after:
        return Verdict(bool(notify), 0.0, True, int(served), "")
    return _back_off(client, group_id, int(failures), bool(notify), int(attempts or 0),
                     base_delay=base_delay)


def clear_failures(client: redis.Redis, group_id: str) -> None:
    """The streak is over (a reply, or its batch set aside): the next failure starts afresh."""
    keys = (STREAK_KEY, BACKOFF_KEY, *LEGACY_KEYS)
    client.delete(*(k.format(group_id=group_id) for k in keys))


def in_backoff(client: redis.Redis, group_id: str) -> bool:
    return bool(client.exists(BACKOFF_KEY.format(group_id=group_id)))


def backoff_blocks(
    client: redis.Redis, group_id: str, token: str | None, *, current: bytes | None | object = ...
) -> bool:
    """Whether a turn must not run now: the group backs off and the turn is not its retry.
    ``current``: the backoff key's value when the caller already read it."""
    if current is ...:
        current = client.get(BACKOFF_KEY.format(group_id=group_id))
    return current is not None and (token is None or current.decode() != token)  # type: ignore[union-attr]


# ---- the attempt marker: how a turn that died without a word is still counted -------------


def begin_attempt(client: redis.Redis, group_id: str, newest_pending_id: int) -> None:
    client.set(ATTEMPT_KEY.format(group_id=group_id), newest_pending_id, ex=MEMORY_SECONDS)


def end_attempt(client: redis.Redis, group_id: str) -> None:
    client.delete(ATTEMPT_KEY.format(group_id=group_id))


def replace_attempt(client: redis.Redis, group_id: str, newest_pending_id: int) -> int | None:
    """Begin an attempt and return what an earlier, unfinished one left (one round trip)."""
    value = client.set(ATTEMPT_KEY.format(group_id=group_id), newest_pending_id,
                       ex=MEMORY_SECONDS, get=True)
    return int(value) if value is not None else None


def interrupted_attempt(client: redis.Redis, group_id: str) -> int | None:
    """The newest message an earlier, unfinished attempt covered; None if none was left.

    Only one turn of a group runs at a time (the lease), so a marker found by a turn that
    holds the lease was left by one that died.
    """
    value = client.get(ATTEMPT_KEY.format(group_id=group_id))
    return int(value) if value is not None else None


# ---- what the group is told -----------------------------------------------------------------


def in_words(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"


def notice_text(failure: Failure, *, retry_in: float) -> str:
    """The one notice of a streak: what went wrong, that nothing is lost, when claw tries again."""
    again = f"Your message is kept and I'll try again in {in_words(retry_in)}."
    if failure.kind is FailureKind.OUTAGE:
        return (
            f"Sorry, I can't reach the model right now ({failure.detail}). "
            "Your message is kept and I'll answer as soon as it's back."
        )
    if failure.kind is FailureKind.MODEL:
        return (
            f"Sorry, I can't answer: the model refused the request ({failure.detail}). "
            "Your message is kept; the model settings need a look (`claw doctor`)."
        )
    if failure.kind is FailureKind.TIMEOUT:
        return f"Sorry, that took too long and I had to stop ({failure.detail}). {again}"
    if failure.kind is FailureKind.INTERRUPTED:
        return f"Sorry, my answer was interrupted ({failure.detail}). {again}"
    return f"Sorry, something went wrong while answering ({failure.detail}). {again}"

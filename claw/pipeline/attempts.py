"""One attempt at a group's turn, with every way it can fail turned into a FAILED result.

``answer_pending`` reports a model failure itself; anything else it raises (a crash reading the
personality, the soft time limit, a bug) would otherwise escape the Celery task, skip the
backoff, and have the sweeper start the same doomed turn every few seconds. And a turn killed
outright (SIGKILL, the hard time limit) says nothing at all, so each attempt leaves a marker
that only its own end removes: the next turn that finds one counts the dead attempt as a failure.

The caller holds the group's lease, so the marker a turn finds can only be a dead one's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from claw.config import Settings
from claw.db import read_session
from claw.pipeline.failures import (
    describe_failure,
    end_attempt,
    interrupted_attempt,
    interrupted_failure,
    replace_attempt,
)
from claw.pipeline.turns import TurnOutcome, TurnResult, pending_span

log = logging.getLogger(__name__)


def attempt_turn(
    settings: Settings, client: redis.Redis, group_id: str, run: Callable[[], TurnResult]
) -> TurnResult:
    """Run ``run`` (the turn) once; a failure of any kind comes back as a FAILED result."""
    with read_session() as session:
        span = pending_span(session, group_id)
    # This attempt's marker goes in as the last one's comes out: one round trip per turn.
    left_by_dead = (interrupted_attempt(client, group_id) if span is None
                    else replace_attempt(client, group_id, span[1]))
    if left_by_dead is not None:
        # Its batch still (partly) pending: it failed. Otherwise it died after committing.
        if span is not None and span[0] <= left_by_dead:
            end_attempt(client, group_id)
            log.warning("turn_interrupted group=%s upto=%d", group_id, left_by_dead)
            return TurnResult(TurnOutcome.FAILED, newest_pending_id=left_by_dead,
                              failure=interrupted_failure())
        if span is None:
            end_attempt(client, group_id)
            log.info("turn_redone_after_commit group=%s upto=%d", group_id, left_by_dead)
    if span is None:
        return TurnResult(TurnOutcome.IDLE)
    newest = span[1]
    try:
        result = run()
    except Exception as exc:  # every failure of a turn is the group's failure, not the worker's
        log.exception("turn_crashed group=%s error=%s", group_id, type(exc).__name__)
        return TurnResult(
            TurnOutcome.FAILED, newest_pending_id=newest,
            failure=describe_failure(exc, soft_time_limit=settings.turn_soft_time_limit),
        )
    finally:
        _end_attempt_quietly(client, group_id)
    if result.outcome == TurnOutcome.FAILED and result.failure is None:
        assert result.error is not None
        failure = describe_failure(result.error, soft_time_limit=settings.turn_soft_time_limit)
        return TurnResult(TurnOutcome.FAILED, error=result.error, failure=failure,
                          newest_pending_id=result.newest_pending_id or newest)
    return result


def _end_attempt_quietly(client: redis.Redis, group_id: str) -> None:
    try:
        end_attempt(client, group_id)
    except Exception:  # Redis hiccup: at worst the next turn counts one failure too many
        log.warning("turn_attempt_marker_stuck group=%s", group_id)

"""When the model cannot answer: tell the group once, back off, try again later.

The messages stay pending (never lost); the notice is not an answer (never answered twice).
State is a few expiring Redis keys per group: losing them costs at most one extra notice.
"""

from __future__ import annotations

import math

import redis

FAILURES_KEY = "claw:turn-failures:{group_id}"
BACKOFF_KEY = "claw:turn-backoff:{group_id}"
NOTIFIED_KEY = "claw:turn-notified:{group_id}"
MEMORY_SECONDS = 86_400
MAX_BACKOFF_SECONDS = 600.0


def note_failure(
    client: redis.Redis, group_id: str, newest_pending_id: int, *, base_delay: float
) -> tuple[bool, float]:
    """Record a failed turn; returns (notify the group?, seconds until the next try)."""
    failures = int(client.incr(FAILURES_KEY.format(group_id=group_id)))
    client.expire(FAILURES_KEY.format(group_id=group_id), MEMORY_SECONDS)
    retry_in = min(MAX_BACKOFF_SECONDS, base_delay * 2 ** (failures - 1))
    client.set(BACKOFF_KEY.format(group_id=group_id), 1, ex=max(1, math.ceil(retry_in)))
    notified = client.get(NOTIFIED_KEY.format(group_id=group_id))
    notify = notified is None or int(notified) < newest_pending_id
    if notify:
        client.set(NOTIFIED_KEY.format(group_id=group_id), newest_pending_id, ex=MEMORY_SECONDS)
    return notify, retry_in


def clear_failures(client: redis.Redis, group_id: str) -> None:
    client.delete(*(k.format(group_id=group_id) for k in (FAILURES_KEY, BACKOFF_KEY, NOTIFIED_KEY)))


def in_backoff(client: redis.Redis, group_id: str) -> bool:
    return bool(client.exists(BACKOFF_KEY.format(group_id=group_id)))


def notice_text(error: str, *, retryable: bool) -> str:
    if retryable:
        return (
            f"Sorry, I can't reach the model right now ({error}). "
            "Your message is kept and I'll answer as soon as it's back."
        )
    return (
        f"Sorry, I can't answer: the model refused the request ({error}). "
        "Your message is kept; the model settings need a look (`claw doctor`)."
    )

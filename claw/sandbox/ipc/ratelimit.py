"""Per-group rate limit on IPC requests: a token bucket per group, per worker process.

A group's turns always run on its shard's worker, so one process sees all of a group's
requests; the bucket survives between runs, so a flood cannot be repeated by running again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, group_id: str, per_minute: int, *, now: float | None = None) -> bool:
        """Take one token from the group's bucket (capacity ``per_minute``) if there is one."""
        if per_minute <= 0:
            return False
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(group_id)
            if bucket is None:
                bucket = self._buckets[group_id] = _Bucket(float(per_minute), now)
            bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * per_minute / 60)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return True
            return False

    def reset(self, group_id: str | None = None) -> None:
        with self._lock:
            if group_id is None:
                self._buckets.clear()
            else:
                self._buckets.pop(group_id, None)


#: the process's limiter (one per worker)
RATE_LIMITER = RateLimiter()

"""One Redis client per process for leases, de-duplication keys, heartbeats and reply events."""

from __future__ import annotations

from functools import lru_cache

import redis

from claw.config import get_settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        get_settings().resolved_redis_url,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
    )


def reply_channel(group_id: str) -> str:
    """Pub/sub channel on which a delivered reply is announced (payload: outbox id)."""
    return f"claw:replies:{group_id}"

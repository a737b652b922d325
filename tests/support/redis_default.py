"""Making a test's Redis the one claw's code uses: its client, and the Celery app's broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from claw.config import get_settings
from claw.redis_client import get_redis


def _point_celery_at(url: str) -> str:
    """Send tasks to ``url`` from now on; returns the broker used before. The app caches its
    connection pools on first use, so they are dropped along with the setting."""
    from claw.celery_app import app

    before = app.conf.broker_url
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
    return before


@contextmanager
def as_default_redis(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """Point CLAW_REDIS_URL, claw's cached client and the Celery broker at ``url`` (emptied)."""
    monkeypatch.setenv("CLAW_REDIS_URL", url)
    get_settings.cache_clear()
    get_redis.cache_clear()
    client = redis.Redis.from_url(url)
    client.flushdb()
    before = _point_celery_at(url)
    try:
        yield client
    finally:
        _point_celery_at(before)
        client.close()
        get_redis.cache_clear()
        get_settings.cache_clear()

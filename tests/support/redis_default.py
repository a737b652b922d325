"""Making a test's Redis the one claw's code uses: its client, and the Celery app's broker."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from claw.config import get_settings
from claw.redis_client import get_redis


def _point_celery_at(url: str) -> str:
    """Send tasks (and keep results) at ``url`` from now on; returns the broker used before.
    The app caches its connection pools and result backend on first use, so they are dropped
    along with the settings."""
    from claw.celery_app import app

    before = app.conf.broker_url
    app.conf.broker_url = url
    app.conf.result_backend = url
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    vars(app._local).pop("backend", None)
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
        # Results of tasks sent here unsubscribe from this Redis when collected: while it runs.
        gc.collect()
        _point_celery_at(before)
        client.close()
        get_redis.cache_clear()
        get_settings.cache_clear()

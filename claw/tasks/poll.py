"""``claw.poll``: beat-fired every CLAW_POLL_INTERVAL; fetch polled channels, store, queue turns."""

from __future__ import annotations

import logging

from claw.celery_app import app
from claw.channels import PolledChannel, PollError, polled_channels
from claw.pipeline.polling import poll_channel
from claw.redis_client import get_redis

log = logging.getLogger(__name__)

POLL_LOCK_KEY = "claw:poll-running"
POLL_LOCK_SECONDS = 60


@app.task(name="claw.poll", ignore_result=True)
def poll() -> dict[str, int]:
    # A poll still running (slow bridge) makes this one skip instead of piling up.
    lock = get_redis().lock(POLL_LOCK_KEY, timeout=POLL_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return {}
    try:
        return poll_each(polled_channels())
    finally:
        try:
            lock.release()
        except Exception:
            pass


def poll_each(channels: list[PolledChannel]) -> dict[str, int]:
    """Poll every channel; one channel's failure, whatever it is, never stops another's poll."""
    stored: dict[str, int] = {}
    for channel in channels:
        try:
            stored[channel.name] = poll_channel(channel)
        except PollError as exc:
            log.warning("poll_failed channel=%s error=%s", channel.name, exc)
        except Exception as exc:
            # A bug or a database error. Its text may quote a message (SQL parameters), so the
            # traceback goes to DEBUG only; the next channel is polled all the same.
            log.warning("poll_crashed channel=%s error=%s", channel.name, type(exc).__name__)
            log.debug("poll_crashed channel=%s", channel.name, exc_info=True)
    return stored

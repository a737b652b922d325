"""The per-group lease: the second guard that two turns of one group never overlap.

The shard queue and its single-concurrency worker already serialise a group; the lease also
holds when a deployment is wrong (two workers on one shard queue). It is short and renewed by a
background thread while the turn runs, so a group whose worker died is free again within
``lease_seconds`` and the sweeper can hand it to another turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.lock import Lock

LEASE_KEY = "claw:lease:{group_id}"


class LeaseBusy(Exception):
    """Another turn of this group holds the lease."""


def lease_key(group_id: str) -> str:
    return LEASE_KEY.format(group_id=group_id)


def lease_held(client: redis.Redis, group_id: str) -> bool:
    return bool(client.exists(lease_key(group_id)))


class LockKeeper:
    """Keeps a Redis lock from expiring while its holder lives: a daemon thread renews it every
    third of ``ttl`` until stopped, so a holder that dies lets go within ``ttl``.

    With ``hold_for``, only while the holder makes progress: once ``hold_for`` seconds pass
    without a call to ``progressed``, the thread stops renewing and the lock expires, as a dead
    holder's would (a send stuck in one request: claw.pipeline.delivery). The group lease has no
    such bound: a turn's own time limit ends it."""

    def __init__(self, lock: Lock, ttl: float, *, name: str, hold_for: float | None = None,
                 join_timeout: float = 1.0) -> None:
        self.lock = lock
        self.ttl = ttl
        self.hold_for = hold_for
        self.join_timeout = join_timeout
        self.progress_at = time.monotonic()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=name, daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        while not self._stopped.wait(self.ttl / 3):
            if self.hold_for is not None and time.monotonic() - self.progress_at >= self.hold_for:
                return  # stalled that long: let it expire, as a dead holder's would
            try:
                self.lock.reacquire()
            except Exception:  # lost the lock or Redis hiccup: the holder's own checks guard
                return

    def progressed(self) -> None:
        self.progress_at = time.monotonic()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self.join_timeout)


def _hold_lease(client: redis.Redis, group_id: str, seconds: float) -> Iterator[Lock]:
    """Hold the group's lease for the duration of the block, renewing it every third of its life.

    (Wrapped below rather than decorated: mutation testing, `make mutate`, skips decorated
    functions, and this is the one it must reach.)"""
    lock = client.lock(lease_key(group_id), timeout=seconds, blocking=False, thread_local=False)
    if not lock.acquire():
        raise LeaseBusy(group_id)
    keeper = LockKeeper(lock, seconds, name=f"lease-{group_id}")
    try:
        yield lock
    finally:
        keeper.stop()
        try:
            lock.release()
        except Exception:
            pass  # expired or Redis down: it will time out on its own


group_lease = contextmanager(_hold_lease)

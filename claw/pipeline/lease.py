"""The per-group lease: the second guard that two turns of one group never overlap.

The shard queue and its single-concurrency worker already serialise a group; the lease also
holds when a deployment is wrong (two workers on one shard queue). It is short and renewed by a
background thread while the turn runs, so a group whose worker died is free again within
``lease_seconds`` and the sweeper can hand it to another turn.
"""

from __future__ import annotations

import threading
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


def _hold_lease(client: redis.Redis, group_id: str, seconds: float) -> Iterator[Lock]:
    """Hold the group's lease for the duration of the block, renewing it every third of its life.

    (Wrapped below rather than decorated: mutation testing, `make mutate`, skips decorated
    functions, and this is the one it must reach.)"""
    lock = client.lock(lease_key(group_id), timeout=seconds, blocking=False, thread_local=False)
    if not lock.acquire():
        raise LeaseBusy(group_id)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(seconds / 3):
            try:
                lock.reacquire()
            except Exception:  # lost the lease or Redis hiccup: the commit CAS still guards
                return

    renewer = threading.Thread(target=renew, name=f"lease-{group_id}", daemon=True)
    renewer.start()
    try:
        yield lock
    finally:
        stop.set()
        renewer.join(timeout=1)
        try:
            lock.release()
        except Exception:
            pass  # expired or Redis down: it will time out on its own


group_lease = contextmanager(_hold_lease)

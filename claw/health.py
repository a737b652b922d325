"""Liveness of workers and beat, kept as expiring Redis keys that each process refreshes.

Cheaper and quicker than a broadcast ping: /healthz and `claw doctor` read keys instead of
waiting for every worker to answer.
"""

from __future__ import annotations

import logging
import socket
import threading

from celery import signals

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 3.0
HEARTBEAT_TTL = 10
WORKER_KEY_PREFIX = "claw:alive:worker:"
BEAT_KEY = "claw:alive:beat"


_stopped = threading.Event()


def _beat_forever(key: str, shards: tuple[int, ...] = ()) -> None:
    """Refresh ``key`` (and, for a shard worker, its shards' liveness keys, which route new
    groups to it: claw.pipeline.routing) until the process stops."""
    from claw.pipeline.routing import mark_shard_alive
    from claw.redis_client import get_redis

    def loop() -> None:
        while not _stopped.is_set():
            try:
                client = get_redis()
                client.set(key, socket.gethostname(), ex=HEARTBEAT_TTL)
                for shard in shards:
                    mark_shard_alive(client, shard, key.removeprefix(WORKER_KEY_PREFIX), HEARTBEAT_TTL)
            except Exception:
                pass  # Redis down: the key expires and health says so
            _stopped.wait(HEARTBEAT_EVERY)

    threading.Thread(target=loop, name="claw-heartbeat", daemon=True).start()


@signals.worker_ready.connect
def _worker_ready(sender, **_: object) -> None:  # type: ignore[no-untyped-def]
    _beat_forever(WORKER_KEY_PREFIX + sender.hostname, _consumed_shards(sender))


def _consumed_shards(sender) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    """The shard numbers of the shard queues this worker consumes."""
    from claw.pipeline.routing import shard_of_queue

    try:
        names = list(sender.app.amqp.queues.consume_from)
    except Exception:
        return ()
    return tuple(n for n in (shard_of_queue(name) for name in names) if n is not None)


@signals.worker_shutdown.connect
def _worker_shutdown(sender, **_: object) -> None:  # type: ignore[no-untyped-def]
    """A worker that stops on purpose says so at once, rather than after HEARTBEAT_TTL."""
    from claw.pipeline.routing import mark_shard_gone
    from claw.redis_client import get_redis

    _stopped.set()
    try:
        get_redis().delete(WORKER_KEY_PREFIX + sender.hostname)
        for shard in _consumed_shards(sender):
            mark_shard_gone(get_redis(), shard)
    except Exception:
        pass


@signals.beat_init.connect
def _beat_ready(sender, **_: object) -> None:  # type: ignore[no-untyped-def]
    _beat_forever(BEAT_KEY)


def alive_workers(client) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(
        key.decode().removeprefix(WORKER_KEY_PREFIX)
        for key in client.scan_iter(match=WORKER_KEY_PREFIX + "*")
    )


def beat_alive(client) -> bool:  # type: ignore[no-untyped-def]
    return bool(client.exists(BEAT_KEY))

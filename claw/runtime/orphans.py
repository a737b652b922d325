"""A shard worker that starts puts back the turns a dead worker of its shard left unacknowledged.

A turn's message is acknowledged after the turn (``task_acks_late``). Until then kombu keeps it
in Redis as "unacked", and gives it back to the queue only after the visibility timeout (an
hour: long turns must not be redelivered while they run). With prefork, a killed pool process
was noticed by its worker, which gave the message back at once (``task_reject_on_worker_lost``).
A shard worker is now one process (claw/runtime/solo_pool.py): when it dies, nobody is left to
notice, and the turn would wait the hour (the sweeper answers the group sooner, but a turn killed
after its commit still has to run again to release its group's shard: claw.pipeline.routing).

Each shard queue has exactly one live consumer, so whatever is unacked from that queue when its
worker starts belonged to a worker that is gone: it is put back (first in line, as a reject
would) before this worker consumes anything. The io queue, with several threads and possibly
several workers on other hosts, is left to the visibility timeout and the sweeper.
"""

from __future__ import annotations

import json
import logging

from celery import signals

from claw.pipeline.routing import SHARD_QUEUE_PREFIX

log = logging.getLogger(__name__)


def restore_orphans(app: object, queues: set[str]) -> int:
    """Put the unacked messages routed to ``queues`` back at the head of their queue."""
    restored = 0
    with app.connection_for_write() as connection:  # type: ignore[attr-defined]
        channel = connection.default_channel
        client = channel.client
        for tag, raw in client.hscan_iter(channel.unacked_key):
            try:
                _message, _exchange, routing_key = json.loads(raw)
            except (ValueError, TypeError):
                continue
            if routing_key in queues:
                channel.qos.restore_by_tag(tag, client=client, leftmost=True)
                restored += 1
    return restored


@signals.worker_init.connect
def _restore_on_start(sender: object = None, **_: object) -> None:
    try:
        names = set(sender.app.amqp.queues.consume_from)  # type: ignore[attr-defined]
    except Exception:
        return
    shard_queues = {name for name in names if name.startswith(SHARD_QUEUE_PREFIX)}
    if not shard_queues:
        return
    try:
        restored = restore_orphans(sender.app, shard_queues)  # type: ignore[attr-defined]
    except Exception as exc:  # Redis down: the visibility timeout and the sweeper remain
        log.warning("orphans_not_restored queues=%s error=%s", sorted(shard_queues), type(exc).__name__)
        return
    if restored:
        # said once the worker is ready: at worker_init Celery's logging is not set up yet,
        # and the line would go nowhere
        _said_when_ready.append(f"orphans_restored queues={sorted(shard_queues)} messages={restored}")


_said_when_ready: list[str] = []


@signals.worker_ready.connect
def _say_what_was_restored(**_: object) -> None:
    while _said_when_ready:
        log.warning("%s", _said_when_ready.pop(0))

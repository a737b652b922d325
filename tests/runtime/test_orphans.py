"""claw.runtime.orphans: a starting shard worker puts back what a dead worker of its shard left
unacknowledged, and nothing else (real Redis, real kombu transport)."""

from __future__ import annotations

from celery import Celery
from kombu import Connection, Exchange, Queue

from claw.runtime.orphans import restore_orphans
from tests.support.redis_server import LocalRedis


def queue(name: str) -> Queue:
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def take_without_ack(url: str, name: str) -> None:
    """Receive a message from ``name`` as a worker does (acks late), then die without acking."""
    connection = Connection(url)
    channel = connection.channel()
    message = queue(name)(channel).get(no_ack=False)
    assert message is not None
    channel.do_restore = False  # a SIGKILLed worker gives nothing back on its way out
    connection.release()


def test_a_starting_shard_worker_restores_its_queues_orphans_only(redis_server: LocalRedis) -> None:
    url = redis_server.url
    with Connection(url) as connection:
        producer = connection.Producer()
        for name in ("claw.shard.7", "claw.io"):
            producer.publish({"turn": name}, exchange=queue(name).exchange, routing_key=name,
                             declare=[queue(name)])
    # Given a shard worker and an io worker that each died holding a message unacknowledged
    take_without_ack(url, "claw.shard.7")
    take_without_ack(url, "claw.io")
    with Connection(url) as connection:
        assert queue("claw.shard.7")(connection.channel()).get() is None  # gone from the queue

    # When shard 7's new worker starts
    restored = restore_orphans(Celery(broker=url), {"claw.shard.7"})

    # Then the shard's message is back in its queue, and the io message is left alone
    assert restored == 1
    with Connection(url) as connection:
        channel = connection.channel()
        again = queue("claw.shard.7")(channel).get(no_ack=True)
        assert again is not None and again.payload == {"turn": "claw.shard.7"}
        assert queue("claw.io")(channel).get(no_ack=True) is None
        assert len(channel.client.hkeys(channel.unacked_key)) == 1  # the io one, for its timeout

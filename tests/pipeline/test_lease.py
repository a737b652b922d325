"""claw.pipeline.lease: the per-group lease that keeps two turns of one group apart (real Redis)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from claw.pipeline.lease import LeaseBusy, group_lease, lease_held, lease_key
from tests.support.redis_server import LocalRedis


@pytest.fixture
def client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


def test_lease_key_names_the_group() -> None:
    assert lease_key("whatsapp:123@g.us") == "claw:lease:whatsapp:123@g.us"


def test_a_second_holder_is_refused_while_the_first_holds_it(client: redis.Redis) -> None:
    # Given a turn holding the group's lease
    with group_lease(client, "http:team", 5):
        assert lease_held(client, "http:team")
        # When another turn of the same group tries to take it
        # Then it is refused at once
        started = time.monotonic()
        with pytest.raises(LeaseBusy, match="^http:team$"):  # (the log line names the group)
            with group_lease(client, "http:team", 5):
                pytest.fail("two holders of one group's lease")
        # (a waiting acquire would hang until this block ends; 4 s is far from that, and from
        # the 0.1 s a refusal takes, so a loaded machine cannot flake it)
        assert time.monotonic() - started < 4
        # And another group is not affected
        with group_lease(client, "http:other", 5):
            assert lease_held(client, "http:other")


def test_a_holder_on_another_connection_is_refused(
    client: redis.Redis, redis_server: LocalRedis
) -> None:
    # Given a lease held through one connection, and a second worker with its own client
    other_worker = redis.Redis.from_url(redis_server.url)
    outcome: list[str] = []

    def contend() -> None:
        try:
            with group_lease(other_worker, "http:team", 5):
                outcome.append("acquired")
        except LeaseBusy:
            outcome.append("busy")

    with group_lease(client, "http:team", 5):
        # When the second worker tries to take the same group's lease
        thread = threading.Thread(target=contend)
        thread.start()
        thread.join(5)
    other_worker.close()

    # Then it is refused
    assert outcome == ["busy"]


def test_the_renewing_thread_is_named_after_the_group_and_never_holds_up_an_exit(client: redis.Redis) -> None:
    # While a lease is held, its renewer runs as a daemon thread (a worker exiting mid-turn
    # is not kept alive by it) that a thread dump names
    with group_lease(client, "http:team", 5):
        [renewer] = [t for t in threading.enumerate() if t.name == "lease-http:team"]
        assert renewer.daemon
    # And it is gone with the lease
    assert not [t for t in threading.enumerate() if t.name == "lease-http:team"]


def test_the_lease_is_released_after_the_block(client: redis.Redis) -> None:
    with group_lease(client, "http:team", 5):
        pass

    assert not lease_held(client, "http:team")
    assert client.exists(lease_key("http:team")) == 0
    # and the next turn takes it without waiting
    with group_lease(client, "http:team", 5):
        assert lease_held(client, "http:team")


def test_the_lease_is_released_when_the_turn_raises(client: redis.Redis) -> None:
    with pytest.raises(RuntimeError):
        with group_lease(client, "http:team", 5):
            raise RuntimeError("turn crashed")

    assert not lease_held(client, "http:team")


def test_the_lease_is_renewed_while_held_longer_than_its_lifetime(client: redis.Redis) -> None:
    # Given a lease of 0.6 s
    with group_lease(client, "http:team", 0.6):
        # When the turn runs for 2.5 times as long
        time.sleep(1.5)
        # Then the lease is still held, with a fresh lifetime, and still excludes others
        assert lease_held(client, "http:team")
        assert 0 < client.pttl(lease_key("http:team")) <= 600
        with pytest.raises(LeaseBusy):
            with group_lease(client, "http:team", 0.6):
                pass
    assert not lease_held(client, "http:team")


def test_the_lease_expires_on_its_own_when_the_holder_vanishes(client: redis.Redis) -> None:
    # Given a holder that took the lease for 0.3 s and died without releasing it
    dead = client.lock(lease_key("http:team"), timeout=0.3, blocking=False)
    assert dead.acquire()
    with pytest.raises(LeaseBusy):
        with group_lease(client, "http:team", 5):
            pass

    # When its lifetime has passed
    time.sleep(0.5)

    # Then the group is free and a new turn takes it
    assert not lease_held(client, "http:team")
    with group_lease(client, "http:team", 5):
        assert lease_held(client, "http:team")

"""claw.pipeline.routing's assignment of groups to shards, against a real Redis: least-loaded
live shard, kept while the group has work, moved off a dead shard only once its lease expired."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from kombu.exceptions import OperationalError

from claw.config import get_settings
from claw.pipeline import dispatch
from claw.pipeline.failures import BACKOFF_KEY
from claw.pipeline.lease import group_lease, lease_key
from claw.pipeline.routing import (
    MAX_SHARDS,
    NO_LIVE_SHARD,
    NOT_NOW,
    SHARD_ALIVE_KEY,
    SHARD_CLAIM_KEY,
    assign,
    assigned_shard,
    claim_free_shard,
    live_shards,
    mark_shard_alive,
    mark_shard_gone,
    prune_assignments,
    release,
    shard_loads,
    shard_of,
)
from claw.redis_client import get_redis
from tests.support.redis_server import LocalRedis


@pytest.fixture
def client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


NATO = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()


def up(client: redis.Redis, *shards: int) -> None:
    for shard in shards:
        mark_shard_alive(client, shard, f"shard{shard}@test", 30)


def take(client: redis.Redis, group_id: str) -> int:
    return assign(client, group_id, lease_key(group_id))


def test_without_a_live_shard_nothing_is_assigned(client: redis.Redis) -> None:
    assert take(client, "http:a") == NO_LIVE_SHARD
    assert assigned_shard(client, "http:a") is None
    # a shard that was alive once but whose worker is gone counts as none
    up(client, 0)
    mark_shard_gone(client, 0)
    assert live_shards(client) == []
    assert take(client, "http:a") == NO_LIVE_SHARD


def test_groups_go_to_the_least_loaded_live_shard(client: redis.Redis) -> None:
    # Given four live shards
    up(client, 0, 1, 2, 3)
    # When twelve groups get work at once
    groups = [f"http:{name}" for name in NATO]
    shards = [take(client, group) for group in groups]
    # Then every shard gets three of them (hashing gives one shard 5 and another 1)
    assert Counter(shards) == {0: 3, 1: 3, 2: 3, 3: 3}
    assert shard_loads(client) == {0: 3, 1: 3, 2: 3, 3: 3}
    assert sorted(Counter(shard_of(group, 4) for group in groups).values()) == [1, 2, 4, 5]


def test_a_group_keeps_its_shard_while_it_has_work(client: redis.Redis) -> None:
    up(client, 0, 1)
    # Given a group with two queued turns on its shard
    first = take(client, "http:a")
    assert take(client, "http:a") == first
    # When a new group arrives, it goes to the other shard
    assert take(client, "http:b") != first
    # And when one of a's turns ends, a keeps its shard (one turn is still queued)
    assert not release(client, "http:a", first)
    assert assigned_shard(client, "http:a") == first
    assert take(client, "http:a") == first
    # When all its turns have ended, the assignment ends and the shard's load drops
    assert not release(client, "http:a", first)
    assert release(client, "http:a", first)
    assert assigned_shard(client, "http:a") is None
    assert shard_loads(client)[first] == 0


def test_a_shard_without_a_live_worker_gets_no_new_groups(client: redis.Redis) -> None:
    up(client, 0, 1, 2)
    mark_shard_gone(client, 1)
    assert {take(client, f"http:g{n}") for n in range(9)} == {0, 2}


def test_a_group_on_a_dead_shard_moves_only_once_its_lease_expired(client: redis.Redis) -> None:
    # Given a group running a turn (lease held) on shard 0, and shard 1 idle
    up(client, 0, 1)
    assert take(client, "http:a") == 0
    with group_lease(client, "http:a", 30):
        # When shard 0's worker dies (its heartbeat key is gone)
        mark_shard_gone(client, 0)
        # Then while the lease is held nothing is queued for the group anywhere
        assert take(client, "http:a") == NOT_NOW
        assert assigned_shard(client, "http:a") == 0
    # And once the lease is gone the group moves to the live shard, with one unit of work
    assert take(client, "http:a") == 1
    assert shard_loads(client) == {0: 0, 1: 1}
    # A turn of the dead shard that runs late gives back nothing of the new assignment
    assert not release(client, "http:a", 0)
    assert assigned_shard(client, "http:a") == 1
    assert release(client, "http:a", 1)


def test_a_revived_shard_takes_new_groups_again(client: redis.Redis) -> None:
    up(client, 0, 1)
    assert take(client, "http:a") == 0
    mark_shard_gone(client, 1)
    assert take(client, "http:b") == 0
    up(client, 1)
    assert take(client, "http:c") == 1


def test_concurrent_producers_assign_a_group_once(client: redis.Redis, redis_server: LocalRedis) -> None:
    # Given eight shards and sixteen producers with their own connections
    up(client, *range(8))
    results: list[list[int]] = []
    lock = threading.Lock()

    def produce() -> None:
        own = redis.Redis.from_url(redis_server.url)
        got = [take(own, f"http:g{n}") for n in range(20)]
        with lock:
            results.append(got)
        own.close()

    threads = [threading.Thread(target=produce) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Then every producer got the same shard for each group, and the work counts add up
    assert len(results) == 16 and all(r == results[0] for r in results)
    assert sum(shard_loads(client).values()) == 20
    for n in range(20):
        group = f"http:g{n}"
        for _ in range(15):
            assert not release(client, group, results[0][n])
        assert release(client, group, results[0][n])
    assert sum(shard_loads(client).values()) == 0


def test_prune_drops_groups_whose_assignment_expired(client: redis.Redis) -> None:
    up(client, 0, 1)
    take(client, "http:a")
    take(client, "http:b")
    client.delete("claw:route:http:a")  # as ROUTE_TTL would, after a lost turn
    assert prune_assignments(client) == 1
    assert sum(shard_loads(client).values()) == 1
    assert take(client, "http:c") == 0  # a's shard is free again


# ---- through enqueue_turn ------------------------------------------------------------------


@pytest.fixture
def sent(redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The queues enqueue_turn sends turns to (the broker itself is not this test's concern)."""
    monkeypatch.setenv("CLAW_REDIS_URL", redis_server.url)
    monkeypatch.setenv("CLAW_SHARDS", "3")
    get_settings.cache_clear()
    get_redis.cache_clear()
    queues: list[str] = []
    monkeypatch.setattr(dispatch.app, "send_task", lambda *a, queue, **k: queues.append(queue))
    yield queues
    get_redis.cache_clear()
    get_settings.cache_clear()


def test_enqueue_turn_sends_to_the_assigned_shard_once_per_burst(
    client: redis.Redis, sent: list[str]
) -> None:
    up(client, 0, 1, 2)
    # A burst of messages of one group queues one turn, on its assigned shard
    assert [dispatch.enqueue_turn("http:a") for _ in range(3)] == [True, False, False]
    assert sent == [f"claw.shard.{assigned_shard(client, 'http:a')}"]
    # The sweeper's forced turn goes to the same shard
    assert dispatch.enqueue_turn("http:a", force=True)
    assert sent[1] == sent[0]
    # Another group goes elsewhere
    assert dispatch.enqueue_turn("http:b")
    assert sent[2] != sent[0]


def test_enqueue_turn_defers_a_group_whose_dead_shard_still_holds_its_lease(
    client: redis.Redis, sent: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claw.pipeline.dispatch")
    up(client, 0, 1)
    assert dispatch.enqueue_turn("http:a", force=True)
    with group_lease(client, "http:a", 30):
        mark_shard_gone(client, 0)
        assert not dispatch.enqueue_turn("http:a", force=True)
        assert not client.exists(dispatch.turn_queued_key("http:a"))
        # (the operator's one sign of why the group waits)
        assert "turn_deferred group=http:a reason=shard_down" in caplog.messages
    assert dispatch.enqueue_turn("http:a", force=True)
    assert sent == ["claw.shard.0", "claw.shard.1"]


def test_enqueue_turn_falls_back_to_the_hash_without_live_shards(
    client: redis.Redis, sent: list[str]
) -> None:
    assert dispatch.enqueue_turn("http:a")
    assert sent == [f"claw.shard.{shard_of('http:a', 3)}"]


def test_the_hash_fallback_stays_within_this_hosts_shards(
    client: redis.Redis, sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given host B (CLAW_SHARD_BASE=4, 3 shards: it runs shards 4, 5 and 6) before any worker
    # registered: its turns must go to queues one of its workers will consume, not 0..2
    monkeypatch.setenv("CLAW_SHARD_BASE", "4")
    get_settings.cache_clear()
    for name in NATO:
        assert dispatch.enqueue_turn(f"http:{name}")
    assert set(sent) <= {"claw.shard.4", "claw.shard.5", "claw.shard.6"}
    assert sent[0] == f"claw.shard.{4 + shard_of(f'http:{NATO[0]}', 3)}"


def test_a_retry_chain_turn_is_sent_through_a_backoff(client: redis.Redis, sent: list[str]) -> None:
    up(client, 0)
    client.set(BACKOFF_KEY.format(group_id="http:a"), "token", ex=30)
    assert not dispatch.enqueue_turn("http:a")
    assert dispatch.enqueue_turn("http:a", retry="token")
    assert sent == ["claw.shard.0"]


# ---- shard workers that number themselves (claw worker) -------------------------------------


def test_a_starting_worker_claims_the_lowest_shard_number_without_a_live_worker(client: redis.Redis) -> None:
    up(client, 0, 2)
    assert claim_free_shard(client, "w1", 30) == 1
    assert claim_free_shard(client, "w2", 30) == 3
    # a claimed shard is not live until its worker's heartbeat says so: it takes no groups
    assert live_shards(client) == [0, 2]
    mark_shard_gone(client, 0)
    assert claim_free_shard(client, "w3", 30) == 0
    # once its worker runs, the claimed shard is live, and its number stays taken after the claim
    up(client, 1)
    assert live_shards(client) == [1, 2]
    client.delete("claw:shard-claim:1")
    assert claim_free_shard(client, "w4", 30) == 4


def test_a_worker_that_claimed_a_shard_and_never_started_draws_no_group(client: redis.Redis) -> None:
    # Given one live shard, and a `claw worker` that claimed shard 1 and then failed to start
    # (its sandbox refused, a crash loop): its claim lasts a minute
    up(client, 0)
    assert claim_free_shard(client, "starting@host", 60) == 1
    # When new groups arrive
    shards = {take(client, f"http:{name}") for name in NATO}
    # Then all go to the shard whose worker runs, none to the one nobody consumes
    assert shards == {0}


def test_workers_starting_at_once_never_claim_the_same_shard(
    client: redis.Redis, redis_server: LocalRedis
) -> None:
    claimed: list[int] = []
    lock = threading.Lock()

    def start(n: int) -> None:
        own = redis.Redis.from_url(redis_server.url)
        shard = claim_free_shard(own, f"w{n}", 30)
        with lock:
            claimed.append(shard)
        own.close()

    threads = [threading.Thread(target=start, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(claimed) == list(range(12))


def test_a_shard_whose_worker_stops_its_heartbeat_is_no_longer_live(client: redis.Redis) -> None:
    # Given a worker that marked its shard alive once, for less than a second, and then died
    mark_shard_alive(client, 0, "dying@host", 0.3)
    assert live_shards(client) == [0]
    # Then its liveness lasts one second (Redis's least), not longer and not forever
    assert 0 < client.pttl(SHARD_ALIVE_KEY.format(shard=0)) <= 1000
    # And once that passed the shard takes no new group
    deadline = time.monotonic() + 10
    while live_shards(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_shards(client) == []
    assert take(client, "http:a") == NO_LIVE_SHARD


def test_a_starting_workers_claim_lapses_after_its_ttl(client: redis.Redis) -> None:
    # A worker that claimed a number for less than a second and never started holds it one
    # second at most, so the next worker can take the number
    assert claim_free_shard(client, "starting@host", 0.3) == 0
    assert client.get(SHARD_CLAIM_KEY.format(shard=0)) == b"starting@host"
    assert 0 < client.pttl(SHARD_CLAIM_KEY.format(shard=0)) <= 1000


def test_a_worker_finding_every_shard_number_taken_says_so(client: redis.Redis) -> None:
    up(client, *range(MAX_SHARDS))
    with pytest.raises(RuntimeError, match=f"^all {MAX_SHARDS} shard numbers have a live or starting worker$"):
        claim_free_shard(client, "one-too-many@host", 30)


def test_a_group_assigned_to_shard_0_goes_there_whatever_its_hash(client: redis.Redis, sent: list[str]) -> None:
    # Given shard 0 as the only live shard, and a group whose hash fallback would be shard 2
    up(client, 0)
    assert shard_of("http:alpha", 3) == 2
    # When its turn is queued, Then it goes to shard 0, where a worker consumes it
    assert dispatch.enqueue_turn("http:alpha")
    assert sent == ["claw.shard.0"]


def test_a_turn_the_broker_refused_gives_its_units_of_work_back(
    client: redis.Redis, sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a live shard 0, and a broker that refuses the turn after its group was assigned
    up(client, 0)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("broker down")

    monkeypatch.setattr(dispatch.app, "send_task", refuse)
    # When a message's turn is queued
    assert dispatch.enqueue_turn("http:alpha") is False
    # Then the group holds no unit of work on the shard: it is not left assigned with work
    # that never comes back (its load would keep drawing groups away for ROUTE_TTL)
    assert assigned_shard(client, "http:alpha") is None
    assert shard_loads(client) == {0: 0}
    # And a turn of a group that keeps the shard (one queued turn outstanding) gives back only
    # its own unit
    monkeypatch.setattr(dispatch.app, "send_task", lambda *a, queue, **k: sent.append(queue))
    assert dispatch.enqueue_turn("http:bravo", force=True)
    monkeypatch.setattr(dispatch.app, "send_task", refuse)
    assert dispatch.enqueue_turn("http:bravo", force=True) is False
    assert assigned_shard(client, "http:bravo") == 0
    assert client.get("claw:route-work:http:bravo") == b"1"

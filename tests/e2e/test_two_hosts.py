"""Two hosts on one machine: two `claw up` with their own CLAW_HOME and disjoint shard numbers
share one Redis, one PostgreSQL and one workspace. Stopping host B moves its groups to host A
without an operator (claw.pipeline.routing) and without losing or doubling a reply."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from claw.pipeline.routing import assigned_shard, live_shards
from tests.support.postgres_server import LocalPostgres
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

GROUPS = [f"host-{n}" for n in range(8)]
LATENCY_MS = 300
LEASE_SECONDS = 3


@pytest.fixture(scope="module")
def database_url(postgres_server: LocalPostgres) -> Iterator[str]:
    name = f"hosts_{uuid.uuid4().hex[:12]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


def host(home: Path, redis_url: str, database_url: str, workspace: Path, *, base: int,
         workers: int) -> ClawStack:
    return ClawStack(home, redis_url, shards=2, database_url=database_url, shard_workers=workers,
                     extra_env={"CLAW_WORKSPACE": str(workspace)}, shard_base=base, cooldown=0,
                     offline_latency_ms=LATENCY_MS, lease_seconds=LEASE_SECONDS)


def reply_lines(stack: ClawStack, group_id: str) -> list[str]:
    rows = stack.sql("SELECT o.text FROM outbox o JOIN messages m ON m.id = o.message_id "
                     "WHERE o.group_id = ? AND m.kind = 'chat' AND o.status = 'sent' ORDER BY o.id", group_id)
    return [line for row in rows for line in row["text"].splitlines()]


def test_stopping_host_b_moves_its_groups_to_host_a_and_every_message_is_answered_once(
    tmp_path: Path, redis_server: LocalRedis, database_url: str
) -> None:
    workspace = tmp_path / "shared-workspace"
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    # Given host A (shards 0, 1) and host B (shards 2, 3) on one Redis, database and workspace
    with host(tmp_path / "a", redis_server.url, database_url, workspace, base=0, workers=2) as a:
        b = host(tmp_path / "b", redis_server.url, database_url, workspace, base=2, workers=4).start()
        try:
            wait_until(lambda: live_shards(client) == [0, 1, 2, 3], 30, "four live shards")
            # When eight groups talk through host A's API
            with ThreadPoolExecutor(len(GROUPS)) as pool:
                list(pool.map(lambda g: a.post(g, "before", sender="lee"), GROUPS))
            on_b = {g for g in GROUPS if (assigned_shard(client, f"http:{g}") or 0) >= 2}
            # Then both hosts answer: some groups ran on host B's shards
            assert on_b, "no group was assigned to host B"
            for group in GROUPS:
                a.wait_answered(f"http:{group}", 1, timeout=60)
        finally:
            # When host B stops (warm: its workers say they are gone)
            b.stop()
        assert live_shards(client) == [0, 1]
        # And every group talks again, host B's ones included
        with ThreadPoolExecutor(len(GROUPS)) as pool:
            list(pool.map(lambda g: a.post(g, "after", sender="lee"), GROUPS))
        # Then host A answers them all, each message once, in order
        for group in GROUPS:
            a.wait_answered(f"http:{group}", 2, timeout=90)
        for group in GROUPS:
            assert reply_lines(a, f"http:{group}") == ["lee: before", "lee: after"], group
        assert all((assigned_shard(client, f"http:{g}") or 0) < 2 for g in GROUPS)
    client.close()

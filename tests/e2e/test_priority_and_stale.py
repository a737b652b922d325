"""Priority groups jump the queue; messages that waited too long get an apology.

One shard worker only, so turns visibly queue behind each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from claw.pipeline.turns import STALE_APOLOGY
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

LATENCY_MS = 700
STALE_AFTER = 1.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"),
        redis_server.url,
        shards=1,
        cooldown=0,
        offline_latency_ms=LATENCY_MS,
        stale_after=STALE_AFTER,
    ) as claw:
        yield claw


def turn_order(stack: ClawStack, group_ids: list[str]) -> list[str]:
    rows = stack.sql(
        "SELECT group_id FROM outbox WHERE group_id IN (%s) ORDER BY turn_started_at"
        % ",".join("?" * len(group_ids)),
        *group_ids,
    )
    return [row["group_id"] for row in rows]


def test_a_priority_group_goes_before_groups_already_waiting(stack: ClawStack) -> None:
    # Given a group marked priority
    stack.post("vip", "hello", wait=30)
    response = stack.http.patch("/v1/groups/http:vip", json={"priority": True})
    assert response.status_code == 200 and response.json()["priority"] is True
    # And the only shard busy with one group while three others queue behind it
    stack.post("busy", "long question")
    wait_until(lambda: stack.sql("SELECT 1 FROM outbox WHERE group_id='http:busy'") or
               _lease_taken(stack, "http:busy"), 10, "the busy turn to start", every=0.02)
    for name in ("normal1", "normal2", "normal3"):
        stack.post(name, "me too")
    # When the priority group writes
    stack.post("vip", "urgent!")
    for name in ("busy", "normal1", "normal2", "normal3"):
        stack.wait_answered(f"http:{name}", 1, timeout=60)
    stack.wait_answered("http:vip", 2, timeout=60)
    # Then its turn runs right after the busy one, before the groups that were waiting
    order = turn_order(stack, ["http:busy", "http:normal1", "http:normal2", "http:normal3", "http:vip"])
    assert order[-5:][:2] == ["http:busy", "http:vip"], order
    assert sorted(order[-3:]) == ["http:normal1", "http:normal2", "http:normal3"]


def _lease_taken(stack: ClawStack, group_id: str) -> bool:
    import redis

    return bool(redis.Redis.from_url(stack.env["CLAW_REDIS_URL"]).exists(f"claw:lease:{group_id}"))


def test_a_reply_to_messages_that_waited_too_long_starts_with_an_apology(stack: ClawStack) -> None:
    # Given four groups writing at once to a single busy shard (each turn takes 0.7 s)
    groups = ["late1", "late2", "late3", "late4"]
    for name in groups:
        stack.post(name, "anyone?", sender="frank")
    for name in groups:
        stack.wait_answered(f"http:{name}", 1, timeout=60)
    # Then a reply apologises first exactly when its turn started more than CLAW_STALE_AFTER
    # after the message (judged by the turn's own start, not by order: on a loaded machine
    # even the first turn may start late)
    waited: dict[str, float] = {}
    for name in groups:
        [row] = stack.sql(
            "SELECT o.turn_started_at, m.created_at FROM outbox o JOIN messages m ON m.answered_by = o.id "
            "WHERE o.group_id = ?", f"http:{name}")
        waited[name] = (_utc(row["turn_started_at"]) - _utc(row["created_at"])).total_seconds()
        late = waited[name] > STALE_AFTER
        assert stack.replies(f"http:{name}") == [f"{STALE_APOLOGY}\nfrank: anyone?" if late else "frank: anyone?"]
    # And the last, queued behind three turns of 0.7 s, did wait that long
    assert max(waited.values()) > 3 * LATENCY_MS / 1000 > STALE_AFTER, waited


def _utc(stored: str) -> datetime:
    moment = datetime.fromisoformat(stored)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

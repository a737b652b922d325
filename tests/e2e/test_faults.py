"""Faults: a worker killed mid-turn, Redis stopped and restarted. Nothing is lost, nothing
is answered twice."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator

import psutil
import pytest
import redis

from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

SHARDS = 2
LATENCY_MS = 2000  # long turns, so a kill lands mid-turn
LEASE_SECONDS = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"),
        redis_server.url,
        shards=SHARDS,
        cooldown=0,
        offline_latency_ms=LATENCY_MS,
        lease_seconds=LEASE_SECONDS,
        llm_retry_delay=1,  # a killed turn counts as a failure and backs off (test_stuck_groups)
    ) as claw:
        yield claw


def wait_turn_running(stack: ClawStack, group_id: str) -> None:
    client = redis.Redis.from_url(stack.env["CLAW_REDIS_URL"])
    wait_until(lambda: client.exists(f"claw:lease:{group_id}"), 20, f"a turn of {group_id}", every=0.02)


def running_shard(stack: ClawStack, group_id: str) -> int:
    shard = stack.assigned_shard(group_id)
    assert shard is not None, f"{group_id} runs a turn but has no shard"
    return shard


def outbox_rows(stack: ClawStack, group_id: str) -> list[dict]:
    """The group's replies; notices about claw itself (a killed turn is told once) left out."""
    return stack.sql(
        "SELECT o.text, o.status FROM outbox o JOIN messages m ON m.id = o.message_id "
        "WHERE o.group_id = ? AND m.kind = 'chat'", group_id)


def turn_spans(stack: ClawStack, group_id: str) -> list[tuple[str, int, float]]:
    """("turn_began" | "turn_ended", pid, time) of the group's turns, in time order, from the
    lines claw.pipeline.turns logs around asking the model and committing."""
    pattern = rf"(turn_began|turn_ended) group={re.escape(group_id)} pid=(\d+) at=([\d.]+)"
    found = re.findall(pattern, stack.log_path.read_text(errors="replace"))
    return sorted(((event, int(pid), float(at)) for event, pid, at in found), key=lambda e: e[2])


def test_turns_of_one_group_never_overlap(stack: ClawStack) -> None:
    group_id = "http:one-at-a-time"
    # Given a turn of a group running (2 s each)
    stack.post("one-at-a-time", "first", sender="kim")
    wait_turn_running(stack, group_id)
    # When more messages arrive while it runs, each queueing another turn of the group
    stack.post("one-at-a-time", "second", sender="kim")
    time.sleep(0.5)
    stack.post("one-at-a-time", "third", sender="kim")
    stack.wait_answered(group_id, 3, timeout=60)
    # Then its turns ran one after the other: each began after the last one ended (observed
    # around the model and the commit, so the queue, its single worker and the lease are
    # tested, not the commit guard that would refuse an overlapping turn's reply)
    spans = turn_spans(stack, group_id)
    assert [event for event, _, _ in spans].count("turn_began") >= 2, spans
    running = 0
    for event, _, _ in spans:
        running += 1 if event == "turn_began" else -1
        assert running in (0, 1), spans
    assert running == 0


def test_whole_worker_killed_mid_turn_is_restarted_and_the_group_answered_once(stack: ClawStack) -> None:
    group_id = "http:killed-worker"
    # Given a turn running in a shard worker
    stack.post("killed-worker", "and this", sender="hal")
    wait_turn_running(stack, group_id)
    shard = running_shard(stack, group_id)
    worker = stack.worker_process(shard)
    # When the worker (the one process that runs the shard's turns) is killed with SIGKILL
    worker.send_signal(signal.SIGKILL)
    # Then the fork server forks it again, the sweeper re-queues the group, and it is answered once
    stack.wait_answered(group_id, 1, timeout=90)
    assert stack.worker_process(shard).pid != worker.pid
    assert stack.worker_process(shard).parent().pid == stack.forkserver_process().pid
    time.sleep(LEASE_SECONDS + 2)
    assert outbox_rows(stack, group_id) == [{"text": "hal: and this", "status": "sent"}]


def test_a_dead_shards_groups_move_to_a_live_shard_and_are_answered_once_each(stack: ClawStack) -> None:
    groups = [f"move-{n}" for n in range(4)]
    supervisor = stack.forkserver_process()
    # Given four groups with a message each, spread over both shards, and the fork server
    # paused so that it does not restart the worker this test kills
    supervisor.suspend()
    try:
        for group in groups:
            stack.post(group, "first", sender="kim")
        assigned = {g: running_shard_soon(stack, f"http:{g}") for g in groups}
        assert set(assigned.values()) == {0, 1}, assigned
        # When the worker of shard 0 is killed mid-turn
        wait_turn_running(stack, f"http:{next(g for g, s in assigned.items() if s == 0)}")
        worker = stack.worker_process(0)
        worker.send_signal(signal.SIGKILL)
        # And every group gets a second message while shard 0 has no worker
        for group in groups:
            stack.post(group, "second", sender="kim")
        # Then every group is answered, shard 0's groups by shard 1 (no shard 0 worker runs)
        for group in groups:
            stack.wait_answered(f"http:{group}", 2, timeout=120)
        assert worker.status() == psutil.STATUS_ZOMBIE  # dead, and the fork server did not restart it
        # And each message is answered exactly once, in order
        time.sleep(LEASE_SECONDS + 2)  # a duplicate reply would show by now
        for group in groups:
            rows = stack.sql("SELECT o.text FROM outbox o JOIN messages m ON m.id = o.message_id "
                             "WHERE o.group_id = ? AND m.kind = 'chat' AND o.status = 'sent' ORDER BY o.id",
                             f"http:{group}")
            lines = [line for row in rows for line in row["text"].splitlines()]
            assert lines == ["kim: first", "kim: second"], (group, lines)
    finally:
        supervisor.resume()
    # And once the fork server restarts shard 0 the stack is whole again
    stack.wait_healthy(timeout=90)


def running_shard_soon(stack: ClawStack, group_id: str) -> int:
    found: list[int] = []

    def assigned() -> bool:
        shard = stack.assigned_shard(group_id)
        found.extend([] if shard is None else [shard])
        return shard is not None

    wait_until(assigned, 20, f"{group_id} assigned a shard", every=0.02)
    return found[-1]


def test_message_arriving_while_redis_is_down_is_answered_once_redis_is_back(
    stack: ClawStack, redis_server: LocalRedis
) -> None:
    # Given Redis is down
    redis_server.stop()
    try:
        # When a message arrives over HTTP
        started = time.monotonic()
        response = stack.post("redis-down", "hello in the dark", sender="ivy")
        # Then it is accepted and stored at once
        assert response.status_code == 202, response.text
        assert time.monotonic() - started < 10
        stored = stack.sql("SELECT answered_by FROM messages WHERE group_id = 'http:redis-down'")
        assert stored == [{"answered_by": None}]
    finally:
        # When Redis comes back
        redis_server.start()
    # Then the message is answered, exactly once
    stack.wait_answered("http:redis-down", 1, timeout=90)
    time.sleep(3)
    assert outbox_rows(stack, "http:redis-down") == [{"text": "ivy: hello in the dark", "status": "sent"}]
    # And the stack is healthy again
    stack.wait_healthy(timeout=60)

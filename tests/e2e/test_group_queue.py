"""The group queue end to end (NanoClaw's GroupQueue on Celery), through the real HTTP API,
on a real Redis, real Celery workers and beat, and a real SQLite database.

Each offline reply repeats every message it answers as ``<sender>: <text>``, one per line, so
the replies show loss, duplication, order and coalescing directly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from claw.pipeline.routing import shard_of
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack

GROUPS = ["alpha", "bravo", "charlie", "delta", "echo"]
PER_GROUP = 20
COOLDOWN = 1.5  # the correction must come within it: two posts on a loaded machine can take 0.8 s
LATENCY_MS = 150


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"),
        redis_server.url,
        shards=3,
        cooldown=COOLDOWN,
        offline_latency_ms=LATENCY_MS,
    ) as claw:
        yield claw


def answered_lines(replies: list[str]) -> list[str]:
    return [line for reply in replies for line in reply.splitlines()]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_many_groups_at_once_every_message_answered_exactly_once_in_order(stack: ClawStack) -> None:
    # Given five groups spread over the three shards
    assert len({shard_of(f"http:{g}", 3) for g in GROUPS}) >= 2
    # When 20 messages per group are posted concurrently (each group's own in order)
    def post_group(group: str) -> None:
        for i in range(PER_GROUP):
            response = stack.post(group, f"{group} message {i}", sender="bob")
            assert response.status_code == 202, response.text

    with ThreadPoolExecutor(len(GROUPS)) as pool:
        list(pool.map(post_group, GROUPS))

    for group in GROUPS:
        group_id = f"http:{group}"
        stack.wait_answered(group_id, PER_GROUP, timeout=90)
        lines = answered_lines(stack.replies(group_id))
        # Then each message appears in exactly one reply, and in the order it was sent
        assert lines == [f"bob: {group} message {i}" for i in range(PER_GROUP)]

    # And turns of one group never overlap, while turns of different groups do
    turns = stack.sql(
        "SELECT group_id, turn_started_at AS start, created_at AS end FROM outbox "
        "WHERE group_id IN (%s) ORDER BY turn_started_at" % ",".join("?" * len(GROUPS)),
        *[f"http:{g}" for g in GROUPS],
    )
    by_group: dict[str, list[dict]] = {}
    for turn in turns:
        by_group.setdefault(turn["group_id"], []).append(turn)
    for group_turns in by_group.values():
        for earlier, later in zip(group_turns, group_turns[1:]):
            assert parse_time(later["start"]) >= parse_time(earlier["end"])
    overlapping = [
        (a["group_id"], b["group_id"])
        for a in turns
        for b in turns
        if a["group_id"] < b["group_id"]
        and parse_time(a["start"]) < parse_time(b["end"])
        and parse_time(b["start"]) < parse_time(a["end"])
    ]
    assert overlapping, "turns of different groups never ran in parallel"
    # And nothing was sent twice
    outbox = stack.sql("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    assert {row["status"] for row in outbox} == {"sent"}


def test_cooldown_coalesces_a_quick_correction_into_one_turn(stack: ClawStack) -> None:
    # Given a group that is quiet
    # When someone sends "hey" and, within the cooldown, a correction
    stack.post("cooldown", "hey", sender="carol")
    correction = stack.post("cooldown", "wait, I meant hello", sender="carol").json()
    stack.wait_answered("http:cooldown", 2)
    # Then both are answered by one reply, in order
    assert stack.replies("http:cooldown") == ["carol: hey\ncarol: wait, I meant hello"]
    # And that turn started only after the group had been quiet for the cooldown
    [turn] = stack.sql("SELECT turn_started_at FROM outbox WHERE group_id = 'http:cooldown'")
    [message] = stack.sql("SELECT created_at FROM messages WHERE id = ?", correction["message_id"])
    quiet = parse_time(turn["turn_started_at"]) - parse_time(message["created_at"])
    assert quiet.total_seconds() >= COOLDOWN * 0.95


def test_messages_arriving_during_a_turn_are_answered_together_by_the_next(stack: ClawStack) -> None:
    # Given a group whose first message is being answered
    stack.post("coalesce", "one", sender="dan")
    # When three more messages arrive while that turn is running or cooling down
    for text in ("two", "three", "four"):
        stack.post("coalesce", text, sender="dan")
    stack.wait_answered("http:coalesce", 4)
    # Then every message is answered once, in order, in fewer replies than messages
    replies = stack.replies("http:coalesce")
    assert answered_lines(replies) == ["dan: one", "dan: two", "dan: three", "dan: four"]
    assert len(replies) < 4


def test_wait_returns_the_reply_to_the_posted_message(stack: ClawStack) -> None:
    response = stack.post("waiter", "are you there?", sender="erin", wait=30)
    assert response.status_code == 200
    body = response.json()
    assert body["group_id"] == "http:waiter"
    assert body["reply"]["text"] == "erin: are you there?"


def test_duplicate_external_id_is_stored_and_answered_once(stack: ClawStack) -> None:
    first = stack.post("dedup", "only once please", external_id="ext-1")
    again = stack.post("dedup", "only once please", external_id="ext-1")
    assert first.status_code == again.status_code == 202
    assert again.json()["message_id"] == first.json()["message_id"]
    assert again.json()["duplicate"] is True
    stack.wait_answered("http:dedup", 1)
    user_messages = [m for m in stack.messages("http:dedup") if m["role"] == "user"]
    assert len(user_messages) == 1
    assert answered_lines(stack.replies("http:dedup")) == ["alice: only once please"]


def test_stack_is_healthy_and_lists_its_groups(stack: ClawStack) -> None:
    health = stack.wait_healthy(timeout=10)
    assert health["database"] and health["redis"] and health["beat"]
    assert sorted(w.split("@")[0] for w in health["workers"]) == ["io", "shard0", "shard1", "shard2"]
    stack.post("listed", "hi")
    ids = [g["id"] for g in stack.http.get("/v1/groups").json()["groups"]]
    assert "http:listed" in ids


def test_every_reply_line_names_its_sender(stack: ClawStack) -> None:
    for line in answered_lines(stack.replies("http:alpha")):
        assert re.fullmatch(r"bob: alpha message \d+", line)
    assert Counter(answered_lines(stack.replies("http:alpha"))).most_common(1)[0][1] == 1

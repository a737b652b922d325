"""claw.pipeline.routing: the hash fallback and queue names (the assignment: test_assignment)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from claw.pipeline.routing import (
    IO_QUEUE,
    SHARD_QUEUE_PREFIX,
    group_id_for,
    shard_of,
    shard_of_queue,
    shard_queue,
)

# crc32 of the UTF-8 group id, computed once by hand: the mapping is part of the deployment
# contract (producers and workers on different hosts must agree), so it must never change.
KNOWN = {
    "telegram:-1001234": (1422414655 % 3, 1422414655 % 8),
    "whatsapp:123@g.us": (1807785381 % 3, 1807785381 % 8),
    "http:team": (882411685 % 3, 882411685 % 8),
}


@pytest.mark.parametrize("group_id", sorted(KNOWN))
def test_shard_of_is_the_crc32_of_the_group_id_modulo_shards(group_id: str) -> None:
    three, eight = KNOWN[group_id]
    assert shard_of(group_id, 3) == three
    assert shard_of(group_id, 8) == eight


def test_shard_of_is_the_same_on_every_call() -> None:
    assert {shard_of("whatsapp:123@g.us", 3) for _ in range(100)} == {0}


def test_shard_of_is_the_same_in_another_process_with_another_hash_seed() -> None:
    # Given a fresh interpreter whose str hash() is salted differently
    code = "from claw.pipeline.routing import shard_of; print(shard_of('telegram:-1001234', 3))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    # When it computes the shard
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=os.getcwd())
    # Then it agrees with this process
    assert int(out.stdout) == shard_of("telegram:-1001234", 3) == 1


def test_shard_of_stays_in_range_and_spreads_groups_over_all_shards() -> None:
    # Given many groups and three shards
    groups = [group_id_for("http", f"chat-{n}") for n in range(300)]
    # When each is assigned a shard
    counts = Counter(shard_of(g, 3) for g in groups)
    # Then every shard gets a fair share, and no shard number is out of range
    assert set(counts) == {0, 1, 2}
    assert min(counts.values()) > 60, counts


def test_one_shard_takes_every_group() -> None:
    assert {shard_of(f"http:{n}", 1) for n in range(50)} == {0}


def test_shard_queue_names_the_groups_shard() -> None:
    assert SHARD_QUEUE_PREFIX == "claw.shard."
    assert shard_queue("telegram:-1001234", 3) == "claw.shard.1"
    assert shard_queue("whatsapp:123@g.us", 3) == "claw.shard.0"
    assert shard_queue("whatsapp:123@g.us", 8) == "claw.shard.5"


def test_io_queue_is_separate_from_the_shard_queues() -> None:
    assert IO_QUEUE == "claw.io"
    assert not IO_QUEUE.startswith(SHARD_QUEUE_PREFIX)


def test_group_id_is_channel_colon_chat_id() -> None:
    assert group_id_for("telegram", "-1001234") == "telegram:-1001234"
    assert group_id_for("whatsapp", "123@g.us") == "whatsapp:123@g.us"
    # a chat id that itself contains ':' is kept whole after the first separator
    assert group_id_for("http", "a:b") == "http:a:b"


def test_shard_of_queue_reads_the_number_back() -> None:
    assert shard_of_queue("claw.shard.12") == 12
    assert shard_of_queue("claw.io") is None
    assert shard_of_queue("claw.shard.x") is None
    assert shard_of_queue(None) is None

"""Which shard queue a group's turns go to.

The hash must be stable across processes and Python runs (``hash()`` is salted per process),
so every producer agrees on the shard and a group's turns stay on one single-concurrency worker.
"""

from __future__ import annotations

import zlib

SHARD_QUEUE_PREFIX = "claw.shard."
IO_QUEUE = "claw.io"


def shard_of(group_id: str, shards: int) -> int:
    return zlib.crc32(group_id.encode("utf-8")) % shards


def shard_queue(group_id: str, shards: int) -> str:
    return f"{SHARD_QUEUE_PREFIX}{shard_of(group_id, shards)}"


def group_id_for(channel: str, chat_id: str) -> str:
    return f"{channel}:{chat_id}"

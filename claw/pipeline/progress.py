"""Progress of a running turn, for channels that can show it (a typing indicator at least).

Streamed model text is announced on ``claw:progress:<group>`` at most every PUBLISH_EVERY
seconds; pull clients (web page, `claw chat`) subscribe to show "claw is typing…".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import redis

PUBLISH_EVERY = 0.5


def progress_channel(group_id: str) -> str:
    return f"claw:progress:{group_id}"


def announce_typing(client: redis.Redis, group_id: str, chars: int = 0) -> None:
    try:
        client.publish(progress_channel(group_id), json.dumps({"typing": True, "chars": chars}))
    except redis.RedisError:
        pass  # progress is a nicety; the reply does not depend on it


def progress_publisher(client: redis.Redis, group_id: str) -> Callable[[str], None]:
    # The turn announces "typing" as it starts, so the first text waits its turn too.
    state = {"last": time.monotonic(), "chars": 0}

    def on_text(delta: str) -> None:
        state["chars"] += len(delta)
        now = time.monotonic()
        if now - state["last"] < PUBLISH_EVERY:
            return
        state["last"] = now
        announce_typing(client, group_id, state["chars"])

    return on_text

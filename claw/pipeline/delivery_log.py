"""A group's delivery log: what claw delivered to it, in order, as a bounded Redis stream.

Every reply, reminder, scheduled prompt's result, message sent by sandboxed code and notice
reaches a group through one place, ``claw.pipeline.delivery.announce``, which appends the
outbox id here at the moment of delivery (in the same round trip as the pub/sub wake-up of
``POST /v1/messages?wait=``). The event stream (``GET /v1/groups/{id}/events``) reads it: the
stream entry's id is the SSE event id, so a client that reconnects with ``Last-Event-ID`` is
given what it missed. A Redis stream rather than pub/sub alone because pub/sub forgets; rather
than the outbox table because the stream's ids are the order of delivery (a push channel's
retried reply goes out after later-numbered ones were written) and need no polling.

The log is bounded twice: at most LOG_MAXLEN entries per group (trimmed approximately, as
Redis does it cheaply), and gone LOG_TTL_SECONDS after the group's last delivery. It holds
only ids; the text stays in the database, which the event stream reads it from.
"""

from __future__ import annotations

import re

from redis.client import Pipeline

LOG_KEY = "claw:delivered:{group_id}"
#: deliveries kept per group: a client away for more than this many misses the oldest
LOG_MAXLEN = 500
#: a group's log disappears this long after its last delivery
LOG_TTL_SECONDS = 7 * 24 * 3600
#: the stream entry's one field
OUTBOX_FIELD = "outbox_id"

#: a stream entry id, "<ms>-<seq>", or "<ms>" (seq 0); "0" means "from the start"
_ENTRY_ID = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$")
_MAX_PART = 2**64 - 1


def log_key(group_id: str) -> str:
    return LOG_KEY.format(group_id=group_id)


def record_delivery(pipe: Pipeline, group_id: str, outbox_id: int) -> None:
    """Queue the append of a delivery on ``pipe`` (the caller executes it)."""
    key = log_key(group_id)
    pipe.xadd(key, {OUTBOX_FIELD: str(outbox_id)}, maxlen=LOG_MAXLEN, approximate=True)
    pipe.expire(key, LOG_TTL_SECONDS)


def valid_entry_id(value: str) -> bool:
    """Whether ``value`` is an id Redis accepts as a stream position (both parts fit 64 bits)."""
    match = _ENTRY_ID.match(value)
    return bool(match) and all(int(part) <= _MAX_PART for part in match.groups("0"))

"""Which shard queue a group's turns go to: the least-loaded live shard, kept while it has work.

Hashing a group to a shard (the first design) serialises a group on one single-concurrency
worker, but it also queues groups behind each other on one shard while other shards idle
(60 groups on 8 shards ran 5.1x faster than on one, not 8x). So a group is *assigned* instead,
atomically in Redis (one Lua script, so two producers never assign one group twice):

- a group with no work in flight goes to the live shard with the fewest assigned groups;
- it keeps that shard while it has work: every queued turn counts one unit of work, and the
  turn gives its unit back when it ends (``release``); at zero the assignment is dropped;
- a shard is live while its worker refreshes ``claw:shard-alive:<n>`` (claw.health); a shard
  without a live worker gets no new groups;
- a group whose shard died moves to a live one, but only once its lease has expired (the lease
  is held while a turn runs and renewed by it), so two turns of one group never overlap. Until
  then nothing is queued; the sweeper re-dispatches the group after the lease expired.

Per-group order and exactly-once do not rest on the assignment: the lease keeps turns of a group
apart, a turn answers *all* pending messages in id order, and the reply's commit is a
compare-and-set (claw.pipeline.turns). A stale turn left in a dead shard's queue that runs
after its group moved finds nothing pending, or waits for the lease, and gives back no unit of
the new assignment (``release`` checks the shard).

Without any live shard (a producer running before the workers registered) the group falls
back to the crc32 hash, which every process computes alike (``hash()`` is salted per process).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `claw up` reads the queue names without loading a Redis client
    import redis

SHARD_QUEUE_PREFIX = "claw.shard."
IO_QUEUE = "claw.io"

#: shard numbers that ever had a live worker (the script checks each one's liveness key)
SHARDS_KEY = "claw:shards"
SHARD_ALIVE_KEY = "claw:shard-alive:{shard}"
#: the groups assigned to a shard: its load
SHARD_GROUPS_KEY = "claw:shard-groups:{shard}"
ROUTE_KEY = "claw:route:{group_id}"
#: units of work (queued or running turns) the group has on its shard
ROUTE_WORK_KEY = "claw:route-work:{group_id}"
#: an assignment whose work was never given back (a turn lost with its worker) ends after this
ROUTE_TTL = 3600

#: ``assign`` result: the group's shard is dead but its lease is held: queue nothing now
NOT_NOW = -1
#: ``assign`` result: no shard is live: fall back to the hash
NO_LIVE_SHARD = -2

#: Lua: ``assign(route, work, lease, group, ttl)`` -> shard, -1 (NOT_NOW) or -2 (NO_LIVE_SHARD).
#: A function, so claw.pipeline.dispatch can run it after its own checks in one round trip.
ASSIGN_FUNCTION_LUA = """
local function alive(n) return redis.call('EXISTS', 'claw:shard-alive:' .. n) == 1 end
local function assign(route, work, lease, group, ttl)
  local current = redis.call('GET', route)
  if current then
    if alive(current) then
      redis.call('INCR', work)
      redis.call('EXPIRE', work, ttl)
      redis.call('EXPIRE', route, ttl)
      return tonumber(current)
    end
    if redis.call('EXISTS', lease) == 1 then return -1 end
    redis.call('SREM', 'claw:shard-groups:' .. current, group)
  end
  local best, best_load = nil, nil
  for _, n in ipairs(redis.call('SMEMBERS', 'claw:shards')) do
    if alive(n) then
      local load = redis.call('SCARD', 'claw:shard-groups:' .. n)
      if best == nil or load < best_load or (load == best_load and tonumber(n) < tonumber(best)) then
        best, best_load = n, load
      end
    end
  end
  if best == nil then
    redis.call('DEL', route, work)
    return -2
  end
  redis.call('SET', route, best, 'EX', ttl)
  redis.call('SET', work, 1, 'EX', ttl)
  redis.call('SADD', 'claw:shard-groups:' .. best, group)
  return tonumber(best)
end
"""
_ASSIGN_LUA = ASSIGN_FUNCTION_LUA + "return assign(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])"

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('DECR', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', 'claw:shard-groups:' .. ARGV[1], ARGV[2])
return 1
"""


_PRUNE_LUA = """
local dropped = 0
for _, n in ipairs(redis.call('SMEMBERS', 'claw:shards')) do
  local key = 'claw:shard-groups:' .. n
  for _, g in ipairs(redis.call('SMEMBERS', key)) do
    if redis.call('GET', 'claw:route:' .. g) ~= n then
      redis.call('SREM', key, g)
      dropped = dropped + 1
    end
  end
end
return dropped
"""


def shard_of(group_id: str, shards: int) -> int:
    """The hash fallback: the same in every process and Python run."""
    return zlib.crc32(group_id.encode("utf-8")) % shards


def queue_of_shard(shard: int) -> str:
    return f"{SHARD_QUEUE_PREFIX}{shard}"


def shard_queue(group_id: str, shards: int) -> str:
    return queue_of_shard(shard_of(group_id, shards))


def shard_of_queue(queue: str | None) -> int | None:
    """The shard number of a shard queue's name ("claw.shard.3" -> 3), else None."""
    if not queue or not queue.startswith(SHARD_QUEUE_PREFIX):
        return None
    number = queue.removeprefix(SHARD_QUEUE_PREFIX)
    return int(number) if number.isdigit() else None


def group_id_for(channel: str, chat_id: str) -> str:
    return f"{channel}:{chat_id}"


def route_keys(group_id: str) -> tuple[str, str]:
    return ROUTE_KEY.format(group_id=group_id), ROUTE_WORK_KEY.format(group_id=group_id)


def assign(client: redis.Redis, group_id: str, lease_key: str) -> int:
    """Take one unit of work for the group on its shard, assigning one if needed.

    Returns the shard number, ``NOT_NOW`` (its shard died and its lease is still held) or
    ``NO_LIVE_SHARD``.
    """
    script = client.register_script(_ASSIGN_LUA)
    return int(script(keys=[*route_keys(group_id), lease_key], args=[group_id, ROUTE_TTL]))


def release(client: redis.Redis, group_id: str, shard: int) -> bool:
    """Give back one unit of the group's work on ``shard``; True if that ended the assignment.

    A turn of a shard the group no longer is assigned to gives back nothing.
    """
    script = client.register_script(_RELEASE_LUA)
    return bool(script(keys=list(route_keys(group_id)), args=[str(shard), group_id]))


def assigned_shard(client: redis.Redis, group_id: str) -> int | None:
    value = client.get(ROUTE_KEY.format(group_id=group_id))
    return None if value is None else int(value)


def mark_shard_alive(client: redis.Redis, shard: int, holder: str, ttl: float) -> None:
    """A shard worker's heartbeat: the shard takes new groups while this key lives."""
    client.pipeline(transaction=False).sadd(SHARDS_KEY, shard).set(
        SHARD_ALIVE_KEY.format(shard=shard), holder, ex=max(1, round(ttl))
    ).execute()


def mark_shard_gone(client: redis.Redis, shard: int) -> None:
    """A shard worker that stops on purpose: no new groups from now on, not after the TTL."""
    client.delete(SHARD_ALIVE_KEY.format(shard=shard))


#: the highest shard number a worker may claim for itself (claim_free_shard)
MAX_SHARDS = 256


#: a starting worker's claim on its shard number: not liveness (routing never reads it), so a
#: worker that claims a number and then fails to start (or crash-loops) draws no groups to it
SHARD_CLAIM_KEY = "claw:shard-claim:{shard}"

_CLAIM_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""


def claim_free_shard(client: redis.Redis, holder: str, ttl: float) -> int:
    """The lowest shard number with neither a live worker nor another starting worker's claim,
    claimed for ``holder`` for ``ttl`` seconds (atomically: two workers starting at once never
    get the same number). The claim is not liveness: the shard takes groups only once its
    worker's heartbeat marks it alive (claw.health). For deployments that start N identical
    shard workers (docker compose --scale) instead of numbering them."""
    script = client.register_script(_CLAIM_LUA)
    for shard in range(MAX_SHARDS):
        keys = [SHARD_ALIVE_KEY.format(shard=shard), SHARD_CLAIM_KEY.format(shard=shard)]
        if int(script(keys=keys, args=[holder, max(1, round(ttl))])):
            return shard
    raise RuntimeError(f"all {MAX_SHARDS} shard numbers have a live or starting worker")


def live_shards(client: redis.Redis) -> list[int]:
    known = sorted(int(n) for n in client.smembers(SHARDS_KEY))
    alive = client.pipeline(transaction=False)
    for shard in known:
        alive.exists(SHARD_ALIVE_KEY.format(shard=shard))
    return [shard for shard, up in zip(known, alive.execute(), strict=True) if up]


def shard_loads(client: redis.Redis) -> dict[int, int]:
    """Groups assigned per known shard (live or not)."""
    known = sorted(int(n) for n in client.smembers(SHARDS_KEY))
    counts = client.pipeline(transaction=False)
    for shard in known:
        counts.scard(SHARD_GROUPS_KEY.format(shard=shard))
    return dict(zip(known, counts.execute(), strict=True))


def prune_assignments(client: redis.Redis) -> int:
    """Drop groups from shards' load sets whose assignment has ended or moved (an assignment
    that expired instead of being released); returns how many were dropped. One script, so an
    assignment made meanwhile is never dropped by mistake."""
    return int(client.register_script(_PRUNE_LUA)())

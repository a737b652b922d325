"""``claw.sweep``: beat-fired safety net that re-queues whatever the database says is unfinished.

It is what makes Redis outages and killed workers recoverable without waiting for the broker's
long visibility timeout (DESIGN.md, Reliability settings).
"""

from __future__ import annotations

from claw.celery_app import app
from claw.config import get_settings
from claw.db import read_session, write_session
from claw.pipeline.dispatch import enqueue_send, enqueue_turn
from claw.pipeline.failures import in_backoff
from claw.pipeline.lease import lease_held
from claw.pipeline.outbox import unsent_ids
from claw.pipeline.routing import prune_assignments
from claw.pipeline.sweeper import groups_waiting
from claw.redis_client import get_redis

#: grace after a message or reply before the sweeper treats it as forgotten
GRACE_SECONDS = 5.0


@app.task(name="claw.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    settings = get_settings()
    redis = get_redis()
    with read_session() as session:
        waiting = groups_waiting(session, quiet_for=settings.cooldown + GRACE_SECONDS)
    turns = 0
    for group_id, priority in waiting:
        # A group whose turn failed waits out its backoff: its retry chain is queued, and the
        # backoff key outlives the planned retry, so only a lost chain falls back to us.
        # A group whose shard died moves here, once its lease expired (claw.pipeline.routing).
        if not lease_held(redis, group_id) and not in_backoff(redis, group_id):
            turns += enqueue_turn(group_id, priority=priority, force=True)
    with write_session() as session:
        outbox_ids = unsent_ids(
            session, older_than=GRACE_SECONDS, stuck_after=settings.stuck_send_seconds
        )
    for outbox_id in outbox_ids:
        enqueue_send(outbox_id)
    pruned = prune_assignments(redis)
    return {"turns": turns, "sends": len(outbox_ids), "pruned": pruned}

"""``claw.scheduler.tick``: beat-fired every CLAW_SCHEDULER_INTERVAL; fire the due schedules.

Safe with two beats or overlapping ticks: each run is claimed by a compare-and-set in the
database (claw.scheduler.tick), so whoever loses simply finds nothing to do.
"""

from __future__ import annotations

from claw.celery_app import app
from claw.config import get_settings
from claw.db.models import utcnow
from claw.scheduler import dispatch, fire_due


@app.task(name="claw.scheduler.tick", ignore_result=True)
def tick() -> int:
    fired = fire_due(utcnow(), limit=get_settings().scheduler_batch)
    for run in fired:
        dispatch(run)
    return len(fired)

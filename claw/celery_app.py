"""The Celery app. Settings live in the repo-root ``celeryconfig`` module (DESIGN.md).

Producers queue tasks by name (``send_task``), so importing the app does not import the task
modules; workers load them through ``include``.
"""

from __future__ import annotations

import os

from celery import Celery

from claw.logs import install_celery_hooks, route_stdout

route_stdout()  # before Celery prints its banner: into $CLAW_HOME/logs/ when `claw up` says so
install_celery_hooks()

#: processes that only send or watch tasks (beat, Flower) skip loading them when they run as
#: programs of their own (docker-compose.yml): the task modules bring the database, the agent
#: and the sandbox, ~25 MB per process. Under `claw up` they are forked from the fork server,
#: which has loaded them once for every process (claw/runtime/forkserver.py).
TASKLESS_ROLES = ("beat", "flower")
app = Celery("claw", include=[] if os.environ.get("CLAW_ROLE") in TASKLESS_ROLES else ["claw.tasks"])
app.config_from_object("celeryconfig")

# Heartbeats of workers and beat, and the shard workers' sandbox check and restore of what a
# dead predecessor left unacknowledged, hook Celery signals.
import claw.health  # noqa: E402,F401
import claw.runtime.orphans  # noqa: E402,F401
import claw.runtime.worker_guard  # noqa: E402,F401

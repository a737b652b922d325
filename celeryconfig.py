"""Celery settings for claw (DESIGN.md, "Reliability settings we rely on").

Every value here is derived from claw's own settings so that all processes agree.
"""

from claw.config import get_settings

_settings = get_settings()

broker_url = _settings.resolved_redis_url
result_backend = _settings.resolved_redis_url

# Redelivery is safe because every claw task is idempotent (DB state decides what to do).
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# The soft limit interrupts a turn so it can apologise; the hard limit kills its worker, which
# the next turn counts as a failure (claw/pipeline/failures.py). claw/config.py checks that a
# model call's retries and a sandbox run fit inside the soft limit.
task_time_limit = _settings.turn_time_limit
task_soft_time_limit = _settings.turn_soft_time_limit
# A shard worker is one process that runs its turns itself and enforces those limits
# (claw/runtime/solo_pool.py); the io worker asks for threads (-P threads).
worker_pool = "claw.runtime.solo_pool:TaskPool"
# The visibility timeout is long so long turns are not redelivered while still running;
# recovery from a dead worker comes from the sweeper and the short group lease instead.
_transport = {
    "visibility_timeout": _settings.visibility_timeout,
    # Priority groups: kombu emulates priorities on Redis with one list per step, 0 first.
    "queue_order_strategy": "priority",
    "priority_steps": [0, 3, 6, 9],
}
broker_transport_options = _transport
result_backend_transport_options = {"visibility_timeout": _settings.visibility_timeout}
broker_connection_retry_on_startup = True
task_default_queue = "claw.io"
task_default_priority = 6
result_expires = 3600
task_ignore_result = True  # state lives in the database; the HTTP task route opts back in
task_serializer = "json"
accept_content = ["json"]
worker_hijack_root_logger = False
# Task events cost about a millisecond per hop; `claw up` turns them on only with Flower.
worker_send_task_events = _settings.task_events
task_send_sent_event = _settings.task_events
timezone = "UTC"
# A producer facing Redis down should fail fast (the message is already stored) instead of
# blocking an HTTP request for long.
task_publish_retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}
broker_connection_timeout = 2

# The poll carries `expires` about its own interval so a backlog never piles up while workers
# are down; the sweeper is the safety net that re-queues unfinished work from the database.
beat_schedule = {
    "poll-channels": {
        "task": "claw.poll",
        "schedule": _settings.poll_interval,
        "options": {"queue": "claw.io", "expires": _settings.poll_interval},
    },
    "sweep": {
        "task": "claw.sweep",
        "schedule": _settings.sweep_interval,
        "options": {"queue": "claw.io", "expires": _settings.sweep_interval * 2},
    },
    # Due runs are claimed in the database, so an expired or doubled tick loses nothing.
    "scheduler-tick": {
        "task": "claw.scheduler.tick",
        "schedule": _settings.scheduler_interval,
        "options": {"queue": "claw.io", "expires": _settings.scheduler_interval},
    },
}

"""Celery tasks. Each is thin: it loads ids, calls the plain function that holds the logic,
and queues what comes next. Every task can run twice without harm."""

from claw.tasks import ingest, poll, scheduler, send, sweep, turn

__all__ = ["ingest", "poll", "scheduler", "send", "sweep", "turn"]

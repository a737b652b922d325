"""GET /metrics: Prometheus metrics, read from the database and Redis at scrape time.

claw's state lives in the database, so the numbers that matter (pending messages, unsent
replies, tokens, cost) are counted there rather than kept as in-process counters, which would
need multiprocess plumbing across workers and reset on every restart.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from claw.api.auth import require_token
from claw.api.errors import GUARDED_RESPONSES
from claw.config import get_settings
from claw.db import Group, Message, Outbox, Usage, read_session
from claw.db.models import OutboxStatus
from claw.health import alive_workers, beat_alive
from claw.pipeline.polling import ITEM_NOTES_KEY
from claw.pipeline.routing import IO_QUEUE, SHARD_QUEUE_PREFIX
from claw.redis_client import get_redis

router = APIRouter(dependencies=[Depends(require_token)], responses=GUARDED_RESPONSES)


class PrometheusText(Response):
    media_type = CONTENT_TYPE_LATEST


class ClawCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._database()
        yield from self._redis()

    def _database(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with read_session() as session:
            groups = session.scalar(select(func.count(Group.id))) or 0
            by_role = dict(session.execute(select(Message.role, func.count()).group_by(Message.role)).all())
            unanswered = dict(session.execute(
                select(Message.set_aside_at.is_not(None), func.count())
                .where(Message.role == "user", Message.answered_by.is_(None),
                       Message.addressed.is_(True))  # the rest is context, owed nothing
                .group_by(Message.set_aside_at.is_not(None))
            ).all())
            pending, set_aside = unanswered.get(False, 0), unanswered.get(True, 0)
            outbox = dict(session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
            retrying = session.scalar(
                select(func.count()).where(Outbox.status == OutboxStatus.PENDING,
                                           Outbox.first_failed_at.is_not(None))
            ) or 0
            tokens_in, tokens_out, cost = session.execute(
                select(func.coalesce(func.sum(Usage.input_tokens), 0),
                       func.coalesce(func.sum(Usage.output_tokens), 0),
                       func.coalesce(func.sum(Usage.cost_usd), 0.0))
            ).one()
        yield GaugeMetricFamily("claw_groups", "Groups claw knows", value=groups)
        messages = CounterMetricFamily("claw_messages", "Stored messages", labels=["role"])
        for role in ("user", "assistant"):
            messages.add_metric([role], by_role.get(role, 0))
        yield messages
        yield GaugeMetricFamily("claw_messages_pending", "User messages not answered yet", value=pending)
        yield GaugeMetricFamily("claw_messages_set_aside",
                                "User messages set aside after their turn kept failing", value=set_aside)
        replies = GaugeMetricFamily("claw_outbox", "Replies by delivery status", labels=["status"])
        for status in OutboxStatus:
            replies.add_metric([status.value], outbox.get(status.value, 0))
        yield replies
        yield GaugeMetricFamily(
            "claw_outbox_retrying", "Replies whose delivery failed and that wait for another attempt",
            value=retrying,
        )
        tokens = CounterMetricFamily("claw_tokens", "Model tokens used", labels=["direction"])
        tokens.add_metric(["input"], tokens_in)
        tokens.add_metric(["output"], tokens_out)
        yield tokens
        yield CounterMetricFamily("claw_cost_usd", "Model cost in US dollars", value=cost)

    def _redis(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            client = get_redis()
            queues = [IO_QUEUE, *(f"{SHARD_QUEUE_PREFIX}{n}" for n in range(get_settings().shards))]
            lengths = {q: sum(client.llen(key) for key in _priority_lists(q)) for q in queues}
            workers, beat, up = len(alive_workers(client)), beat_alive(client), 1
            items = client.hgetall(ITEM_NOTES_KEY)
        except Exception:
            lengths, workers, beat, up, items = {}, 0, False, 0, {}
        yield GaugeMetricFamily("claw_redis_up", "Redis answers", value=up)
        queued = GaugeMetricFamily("claw_queue_length", "Tasks waiting in a queue", labels=["queue"])
        for queue, length in lengths.items():
            queued.add_metric([queue], length)
        yield queued
        yield GaugeMetricFamily("claw_workers_alive", "Workers with a fresh heartbeat", value=workers)
        yield GaugeMetricFamily("claw_beat_alive", "Celery beat has a fresh heartbeat", value=int(beat))
        notes = CounterMetricFamily(
            "claw_channel_items", "Polled items skipped, or stored as a placeholder or repaired",
            labels=["channel", "action", "reason"],
        )
        for key, count in items.items():
            labels = (key.decode() if isinstance(key, bytes) else key).split("|", 2)
            if len(labels) == 3:
                notes.add_metric(labels, int(count))
        yield notes


def _priority_lists(queue: str) -> list[str]:
    """kombu emulates priorities on Redis with one list per priority step: ``queue`` for the
    first step, ``queue<sep><step>`` for the others."""
    from claw.celery_app import app

    options = app.conf.broker_transport_options
    separator = options.get("sep", "\x06\x16")
    steps = options.get("priority_steps", [0])
    return [queue, *(f"{queue}{separator}{step}" for step in steps if step)]


_registry = CollectorRegistry()
_registry.register(ClawCollector())


@router.get("/metrics", response_class=PrometheusText)
async def metrics() -> PrometheusText:
    return PrometheusText(await run_in_threadpool(generate_latest, _registry))

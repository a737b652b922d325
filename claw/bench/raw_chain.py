"""The baseline: a minimal Celery app whose only job is a chain of three trivial tasks.

It shares nothing with claw's app (no celeryconfig, no database, no events) so that it shows
what Celery and Redis alone cost on this machine. It does keep the reliability settings that
matter for a fair comparison with claw: late acks, prefetch 1, and a Redis result backend.
Workers get the broker and backend URLs on the command line (``-b``, ``--result-backend``);
the bench process sets them with ``configure``.
"""

from __future__ import annotations

from celery import Celery, chain
from celery.result import AsyncResult

#: the queue of the baseline, on its own Redis database so it never mixes with claw's
QUEUE = "bench.raw"

app = Celery("claw_bench_raw")
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    task_serializer="json",
    accept_content=["json"],
    result_expires=600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def configure(redis_url: str) -> Celery:
    """Point the producer side at the bench Redis (workers get the same URL as arguments)."""
    app.conf.update(broker_url=redis_url, result_backend=redis_url)
    return app


@app.task(name="bench.a")
def a() -> int:
    return 1


@app.task(name="bench.b")
def b(value: int) -> int:
    return value + 1


@app.task(name="bench.c")
def c(value: int) -> int:
    return value + 1


#: what a finished a→b→c chain returns
CHAIN_RESULT = 3


def send_chain() -> AsyncResult:
    """Queue one a→b→c chain; its result is c's."""
    return chain(a.s(), b.s(), c.s()).apply_async()

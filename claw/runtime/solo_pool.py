"""The shard workers' pool: Celery's solo pool (the turn runs in the worker process itself), with
Celery's time limits enforced, which the solo pool alone ignores.

Why not prefork -c 1, as before: a prefork worker is two processes, the worker and its pool
process, and the pool process alone cost ~25 MB of PSS once it had run turns, even forked from
the fork server (claw bench footprint); one process per shard keeps an added shard under 40 MB.
Prefork gave us the time limits, so they are kept here, with the same outcomes:

- the soft limit raises ``SoftTimeLimitExceeded`` inside the running task (a SIGALRM timer: the
  solo pool runs tasks in the main thread, where Python delivers signals), so a turn stops and
  apologises as before (claw.pipeline.failures);
- the hard limit kills the worker with SIGKILL, as prefork killed its pool process: the fork
  server forks a new worker at once, and the turn is redone once its group's lease has expired
  (the sweeper, claw/tasks/sweep.py), as after any killed worker.

A worker told to stop (SIGTERM, Ctrl-C: a warm stop) finishes the turn it runs and starts no
other. The solo pool alone would start more: the turns a shard worker holds with a countdown
(a cooldown, a retry) come due while it runs one, and the event loop fires up to ten due ones in
a row after it before it looks at the stop flag, each run right there, so a warm stop took as
many turns again (up to the stop grace, then the worker was killed mid-turn). A turn refused
here is neither run nor acknowledged: the worker gives it back to its queue as it closes (kombu
restores unacknowledged messages), and the next worker of the shard runs it.

celeryconfig.py makes it the default pool (``worker_pool``): Celery's ``-P`` takes only the
names of its own pools. The io worker chooses ``-P threads``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery.concurrency.base import apply_target
from celery.concurrency.solo import TaskPool as SoloPool
from celery.exceptions import SoftTimeLimitExceeded
from celery.worker import state as worker_state

log = logging.getLogger(__name__)

#: the running task's soft limit ("soft"), absent when no task runs
_running: dict[str, float] = {}


def _on_alarm(_signum: int, _frame: object) -> None:
    soft = _running.get("soft")
    if soft is not None:  # a timer that fired as its task ended is ignored
        raise SoftTimeLimitExceeded(f"soft time limit ({soft:g} s) exceeded")


def _over_hard_limit(seconds: float) -> None:
    log.error("turn_hard_time_limit seconds=%g pid=%d: killing this worker (it restarts; the "
              "turn is redone)", seconds, os.getpid())
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:
            pass
    os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def time_limits(soft: float | None, hard: float | None) -> Iterator[None]:
    """Within: SoftTimeLimitExceeded at ``soft`` seconds, and the process killed at ``hard``."""
    killer = None
    if hard:
        killer = threading.Timer(hard, _over_hard_limit, args=(hard,))
        killer.daemon = True
        killer.start()
    if soft:
        signal.signal(signal.SIGALRM, _on_alarm)
        _running["soft"] = soft
        signal.setitimer(signal.ITIMER_REAL, soft)
    try:
        yield
    finally:
        _running.pop("soft", None)
        if soft:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if killer is not None:
            killer.cancel()


def stopping() -> bool:
    """The worker was told to stop (warm or cold): Celery's flags, which it checks only
    between rounds of its event loop. Either is an exit code when set, and 0 is one."""
    return any(flag is not None and flag is not False
               for flag in (worker_state.should_stop, worker_state.should_terminate))


class TaskPool(SoloPool):
    """Solo, with the task's time limits (its own, else the worker's: task_time_limit and
    task_soft_time_limit)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_apply = self._apply_within_limits

    def _apply_within_limits(self, target: Callable[..., Any], args: Any = (), kwargs: Any = None,
                             **options: Any) -> Any:
        if stopping():
            # not run, not acknowledged: back to its queue as the worker closes (see above)
            log.info("task_not_started reason=worker_stopping pid=%d", os.getpid())
            return None
        soft = options.pop("soft_timeout", None) or self.options.get("soft_timeout")
        hard = options.pop("timeout", None) or self.options.get("timeout")

        def limited(*task_args: Any, **task_kwargs: Any) -> Any:
            # around the task alone: the ack and result callbacks after it are never interrupted
            with time_limits(soft, hard):
                return target(*task_args, **task_kwargs)

        return apply_target(limited, args, kwargs, **options)

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        info["timeouts"] = (self.options.get("soft_timeout"), self.options.get("timeout"))
        return info

"""Named fault points: fail, pause or kill a process at an exact step, for tests and chaos runs.

A kill test that sleeps and hopes to land between two steps is a lucky test. Instead, code that
matters calls ``fault_point("turn.after_tool")`` at the step, and a run started with
``CLAW_FAULT_POINTS="turn.after_tool:kill-once"`` dies exactly there. Unset (the default), a
fault point is one dictionary lookup.

Actions (``name:action``, comma-separated):

- ``raise`` / ``raise-once``: raise :class:`FaultInjected` (every time / the first time only)
- ``kill`` / ``kill-once``: SIGKILL this process, as the OOM killer or an operator would
- ``sleep-SECONDS``: pause, so a test can act while the step is in progress
- any action with ``-first-N`` (``raise-first-3``, ``sleep-5-first-2``): the first N times only

"once" and "first N" are per CLAW_HOME, across processes and restarts: marker files under
``$CLAW_HOME/faults/`` record how often the point has fired. A name may itself contain ``:``
(``turn.before_agent@http:team``, a point scoped to one group): the action is what follows the
last ``:``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)


class FaultInjected(RuntimeError):
    """Raised at a fault point configured with ``raise`` or ``raise-once``."""


@lru_cache(maxsize=1)
def _configured() -> tuple[dict[str, str], Path]:
    from claw.config import get_settings

    settings = get_settings()
    points: dict[str, str] = {}
    for item in (settings.fault_points or "").split(","):
        name, _, action = item.strip().rpartition(":")
        if name and action:
            points[name] = action
    return points, settings.home / "faults"


def _first_time(markers: Path, name: str) -> bool:
    markers.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(markers / f"{name}.fired", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def _within_first(markers: Path, name: str, times: int) -> bool:
    return any(_first_time(markers, f"{name}.{n}") for n in range(1, times + 1))


def fault_point(name: str) -> None:
    """Act on the fault configured for ``name``, if any."""
    points, markers = _configured()
    action = points.get(name)
    if action is None:
        return
    if action.endswith("-once"):
        if not _first_time(markers, name):
            return
        action = action.removesuffix("-once")
    action, _, times = action.partition("-first-")
    if times and not _within_first(markers, name, int(times)):
        return
    log.warning("fault_point name=%s action=%s pid=%d", name, action, os.getpid())
    if action == "raise":
        raise FaultInjected(name)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("sleep-"):
        time.sleep(float(action.removeprefix("sleep-")))


def reset_fault_points() -> None:
    """Forget the cached configuration (tests that change settings in-process)."""
    _configured.cache_clear()

"""Which backend runs code: CLAW_SANDBOX if set, else the strongest one that works here.

Auto-detection tries bwrap, then docker. It never falls back to subprocess, which is not
isolation: that backend runs only when CLAW_SANDBOX=subprocess says so, and shard workers refuse
to start when no isolating backend works and none was chosen (claw/runtime/worker_guard.py).
A backend named explicitly that does not work is an error, never a silent fallback to
something weaker. Probes run real sandboxes, so their results are kept for the
life of the process (a worker probes once).
"""

from __future__ import annotations

import logging
import threading

from claw.config import Settings
from claw.sandbox.base import Backend, BackendStatus, Strength
from claw.sandbox.bwrap import BwrapBackend
from claw.sandbox.docker import DockerBackend
from claw.sandbox.errors import SandboxUnavailable
from claw.sandbox.subprocess_backend import SubprocessBackend

log = logging.getLogger(__name__)

BACKENDS: dict[str, type[BwrapBackend] | type[DockerBackend] | type[SubprocessBackend]] = {
    "bwrap": BwrapBackend,
    "docker": DockerBackend,
    "subprocess": SubprocessBackend,
}
AUTO_ORDER = ("bwrap", "docker")

_statuses: dict[tuple[object, ...], BackendStatus] = {}
_lock = threading.Lock()
_warned = False


def _key(name: str, settings: Settings) -> tuple[object, ...]:
    return (name, settings.sandbox_python, settings.sandbox_uid, settings.sandbox_gid,
            settings.sandbox_docker_image, str(settings.home), str(settings.workspace))


def backend_status(name: str, settings: Settings, *, fresh: bool = False) -> BackendStatus:
    key = _key(name, settings)
    with _lock:
        if fresh or key not in _statuses:
            _statuses[key] = BACKENDS[name](settings).status()
        return _statuses[key]


def select_backend(settings: Settings) -> tuple[Backend, BackendStatus]:
    """The backend to use, with its status; SandboxUnavailable if the chosen one cannot work."""
    if settings.sandbox:
        status = backend_status(settings.sandbox, settings)
        if not status.available:
            raise SandboxUnavailable(f"CLAW_SANDBOX={settings.sandbox} cannot run code here: {status.detail}")
        if status.strength is Strength.NONE:
            _warn_once(status)
        return BACKENDS[settings.sandbox](settings), status
    refusals = []
    for name in AUTO_ORDER:
        status = backend_status(name, settings)
        if status.available:
            return BACKENDS[name](settings), status
        refusals.append(f"{name}: {status.detail}")
    raise SandboxUnavailable(
        "no isolating sandbox works here (" + "; ".join(refusals) + "). Install bubblewrap "
        "(apt-get install bubblewrap) or Docker, or set CLAW_SANDBOX=subprocess to run the "
        "agent's code WITHOUT isolation."
    )


def _warn_once(status: BackendStatus) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning("sandbox_not_isolated backend=subprocess detail=%s", status.detail)


def describe(settings: Settings) -> tuple[bool, str]:
    """For `claw doctor`: is code execution usable, which backend is active, how strong it is."""
    try:
        _, status = select_backend(settings)
    except SandboxUnavailable as exc:
        return False, str(exc)
    chosen = "CLAW_SANDBOX" if settings.sandbox else "auto-detected"
    detail = f"{status.name} ({status.strength}, {chosen}): {status.detail}; {run_limits(settings, status.name)}"
    if status.strength is Strength.NONE:
        detail = "WARNING " + detail
    return True, detail


def run_limits(settings: Settings, backend: str) -> str:
    """How the run as a whole is limited here: its cgroup (or the fallback) and the disk quota."""
    from claw.sandbox import cgroup, quota

    if backend == "docker":
        whole = "memory and pids per run: the container's"
    else:
        whole = cgroup.support(settings.sandbox_cgroup).describe
    return f"{whole}; {quota.describe(settings)}"

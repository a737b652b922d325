"""One sandboxed run with its IPC host beside it: what the run_code tool calls.

    run_code(settings, Identity("http:team"), "python", "print(6 * 7)") -> SandboxRun

The group's limits and IPC policy come from its ``settings["sandbox"]`` in the database unless
given. The IPC host thread lives exactly as long as the sandbox: it starts right after the
process and is stopped, then drained, after the process is gone.

Limits for the run as a whole come from here: the turn's budget caps the wall clock (budget.py),
the group's directory is put under its disk quota (quota.py), and bwrap and subprocess runs get
a cgroup of their own for memory and processes where the machine allows one (cgroup.py).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw.config import Settings
from claw.pipeline.journal import JournalSlot
from claw.sandbox import cgroup, quota
from claw.sandbox.base import GROUP_INSIDE, Mount, RunSpec, hand_over, sandbox_owner
from claw.sandbox.budget import TurnBudget
from claw.sandbox.errors import SandboxConfigError, SandboxUnavailable
from claw.sandbox.ipc import ALLOWED_ACTIONS, Identity, IpcHost, IpcStats, Policy
from claw.sandbox.layout import ensure_group_layout
from claw.sandbox.limits import Limits, limits_for
from claw.sandbox.process import Execution
from claw.sandbox.select import select_backend
from claw.sandbox.sweep import remove_escapes
from claw.workspace import IPC_DIR, SCRATCH_DIR

log = logging.getLogger(__name__)

#: processes of bwrap itself (the launcher and the namespace's init) inside the run's cgroup
BWRAP_PROCESSES = 2


@dataclass(frozen=True, slots=True)
class SandboxRun:
    backend: str
    exit_code: int | None
    output: str
    output_bytes: int
    truncated: bool
    seconds: float
    killed: str | None  #: "timeout" | "heartbeat" | None
    ipc: IpcStats
    limits: Limits
    oom_kills: int = 0  #: processes killed for the run's memory limit (cgroup only)
    disk: quota.Usage | None = None  #: the group's workspace after the run


def group_sandbox_settings(group_id: str) -> dict[str, Any]:
    """The group's ``settings["sandbox"]`` document (empty if the group or key is missing)."""
    from sqlalchemy.exc import SQLAlchemyError

    from claw.db import Group, read_session

    try:
        with read_session() as session:
            group = session.get(Group, group_id)
            document = (group.settings or {}).get("sandbox") if group else None
    except SQLAlchemyError as exc:  # fail closed: the group's limits may be tighter than ours
        raise SandboxUnavailable(
            f"cannot read the group's sandbox settings from the database ({type(exc).__name__}); "
            "is it migrated (`claw migrate`)?"
        ) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise SandboxConfigError("groups.settings['sandbox'] must be a JSON object")
    return document


def shown_to_code(group: Path) -> tuple[Mount, ...]:
    """The group's personality and memory, read-only at /group: code may read, never change
    them (tools and IPC do). Only what exists is shown: bwrap cannot bind a missing path."""
    shown = []
    for name, wanted in (("CLAUDE.md", stat.S_ISREG), ("memory", stat.S_ISDIR)):
        try:
            mode = os.lstat(group / name).st_mode
        except OSError:
            continue
        if wanted(mode):
            shown.append(Mount(group / name, f"{GROUP_INSIDE}/{name}", False))
    return tuple(shown)


def run_code(
    settings: Settings,
    identity: Identity,
    language: str,
    code: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    journal: JournalSlot | None = None,
    budget: TurnBudget | None = None,
) -> SandboxRun:
    """Run ``code`` in the group's sandbox; ``overrides`` stands in for the database's.

    ``journal`` is the turn's entry for this run: its host requests are journaled under it.
    With a ``budget`` (the turn's), BudgetExhausted is raised before anything starts once the
    turn's sandbox time is spent, and the run's wall clock is capped by what is left.
    """
    if overrides is None:
        overrides = group_sandbox_settings(identity.group_id)
    limits = limits_for(settings, overrides)
    if budget is not None:
        limits = budget.allow(limits)
    policy = Policy.for_group(overrides, ALLOWED_ACTIONS)
    backend, status = select_backend(settings)
    owner = sandbox_owner(settings) if backend.name != "subprocess" else None
    group = ensure_group_layout(settings.workspace, identity.group_id, owner)
    workspace = group / SCRATCH_DIR
    workspace.mkdir(exist_ok=True)
    if not stat.S_ISDIR(os.lstat(workspace).st_mode):  # a link here would bind its target
        raise SandboxUnavailable(f"{workspace} is not a folder (a symlink?); move it away and run again")
    quota.prepare(settings, identity.group_id, limits)  # the scratch folder is its own filesystem
    hand_over(workspace, owner)
    host = IpcHost(identity, group, settings=settings, limits=limits, policy=policy, owner=owner,
                   journal=journal)
    host.open()
    began = time.monotonic()
    try:
        run_cgroup = _cgroup(settings, backend.name, limits)
        try:
            spec = RunSpec(workspace, language, code, limits, ipc=group / IPC_DIR, shown=shown_to_code(group))
            plan = backend.plan(spec)
        except BaseException:
            if run_cgroup is not None:
                run_cgroup.close()
            raise
        execution = Execution(plan, limits, cgroup=run_cgroup)
        stop = threading.Event()
        watcher = threading.Thread(
            target=host.serve, args=(stop, execution.kill), name=f"ipc-{identity.group_id}", daemon=True
        )
        watcher.start()
        try:
            result = execution.wait()
        except BaseException:  # e.g. Celery's soft time limit: the sandbox must not outlive us
            execution.kill("interrupted")
            execution.release()
            raise
        finally:
            stop.set()
            watcher.join()
    finally:
        host.finish()
        remove_escapes(workspace)
        if budget is not None:
            budget.spend(time.monotonic() - began)
    disk = quota.usage(settings, identity.group_id, limits)
    log.info(
        "sandbox_run group=%s backend=%s language=%s exit=%s killed=%s seconds=%.3f output_bytes=%d "
        "ipc_done=%d ipc_refused=%d oom_kills=%d disk_bytes=%d files=%d",
        identity.group_id, status.name, language, result.exit_code, result.killed, result.seconds,
        result.output_bytes, host.stats.done, host.stats.refused, result.oom_kills,
        disk.used_bytes, disk.files,
    )
    return SandboxRun(
        backend=status.name,
        exit_code=result.exit_code,
        output=result.output,
        output_bytes=result.output_bytes,
        truncated=result.truncated,
        seconds=result.seconds,
        killed=result.killed,
        ipc=host.stats,
        limits=limits,
        oom_kills=result.oom_kills,
        disk=disk,
    )


def _cgroup(settings: Settings, backend: str, limits: Limits) -> cgroup.RunCgroup | None:
    """The run's own cgroup, or None where the machine offers none (the documented fallback).

    Docker gives its containers their own; bwrap and subprocess runs get one here."""
    if backend == "docker":
        return None
    where = cgroup.support(settings.sandbox_cgroup)
    if where.kind == "none":
        return None
    try:
        # bwrap itself (its parent and its pid 1) counts too: room for them beside the code
        return cgroup.RunCgroup.create(where, memory_bytes=limits.memory_bytes,
                                       processes=limits.processes + BWRAP_PROCESSES)
    except OSError as exc:  # it worked at the probe: fail closed rather than run unbounded
        raise SandboxUnavailable(f"could not create the run's cgroup: {exc}") from None

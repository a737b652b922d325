"""The subprocess backend: limits without isolation, for machines with neither bwrap nor Docker.

The code runs as claw's own user, in the group's scratch folder, with a clean environment (no keys
or tokens), rlimits and the wall-clock timeout. It can still read whatever that user can read,
reach the network, and see other processes: `claw doctor` and the workers say so loudly.
RLIMIT_NPROC is not set: it would count all of the user's processes (and root is exempt).
"""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable

from claw.config import Settings
from claw.sandbox.base import GUEST_DIR, BackendStatus, RunSpec, Strength, inner_command, sandbox_env
from claw.sandbox.errors import SandboxConfigError
from claw.sandbox.interpreter import sandbox_bash, sandbox_python
from claw.sandbox.limits import Limits
from claw.sandbox.process import LaunchPlan


def _rlimits(limits: Limits) -> Callable[[], None]:
    values = [
        (resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_CORE, 0, 0),
    ]

    def preexec() -> None:
        for which, soft, hard in values:
            resource.setrlimit(which, (soft, hard))

    return preexec


class SubprocessBackend:
    name = "subprocess"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _python(self) -> str:
        try:
            return sandbox_python(self.settings).path
        except SandboxConfigError:
            return sys.executable  # no isolation to protect here: any Python will do

    def plan(self, spec: RunSpec) -> LaunchPlan:
        workspace = str(spec.workspace.resolve())
        ipc = str(spec.ipc.resolve()) if spec.ipc is not None else f"{workspace}/.ipc"
        env = sandbox_env(ipc_dir=ipc, guest_dir=str(GUEST_DIR), home=workspace)
        env["TMPDIR"] = workspace
        return LaunchPlan(
            argv=inner_command(spec.language, spec.code, python=self._python(), bash=sandbox_bash()),
            env=env,
            cwd=workspace,
            preexec=_rlimits(spec.limits),
        )

    def status(self) -> BackendStatus:
        return BackendStatus(
            self.name, True, Strength.NONE,
            f"rlimits, timeout and a clean environment only: code runs as uid {os.geteuid()}, can "
            f"read that user's files and use the network "
            f"(install bubblewrap: apt-get install bubblewrap)",
        )

"""Running untrusted code: sandbox backends and the file IPC that is its only way out.

    run_code(settings, Identity(group_id, is_main), "python", code) -> SandboxRun
    describe(settings) -> (usable, "which backend, how strong")   for `claw doctor`

Backends (CLAW_SANDBOX, else auto-detected in this order): bwrap (namespaces), docker (a
container per run), subprocess (limits only, NOT isolation). Errors:

    SandboxError
    ├── SandboxUnavailable     no backend can run code here
    ├── SandboxConfigError     invalid settings or group overrides
    ├── WorkspacePathError     a file tool's path leaves the workspace
    ├── QuotaExceeded          the group's workspace is over its quota (measured fallback)
    └── BudgetExhausted        the turn's sandbox time is spent: no more code runs this turn
"""

from claw.sandbox import quota
from claw.sandbox.base import BackendStatus, RunSpec, Strength
from claw.sandbox.errors import SandboxConfigError, SandboxError, SandboxUnavailable, WorkspacePathError
from claw.sandbox.ipc import ALLOWED_ACTIONS, Identity, register
from claw.sandbox.limits import Limits, default_limits, limits_for
from claw.sandbox.runner import SandboxRun, run_code
from claw.sandbox.select import backend_status, describe, select_backend

__all__ = [
    "ALLOWED_ACTIONS",
    "BackendStatus",
    "Identity",
    "Limits",
    "RunSpec",
    "SandboxConfigError",
    "SandboxError",
    "SandboxRun",
    "SandboxUnavailable",
    "Strength",
    "WorkspacePathError",
    "backend_status",
    "default_limits",
    "quota",
    "describe",
    "limits_for",
    "register",
    "run_code",
    "select_backend",
]

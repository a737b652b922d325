"""Resource limits of one sandboxed run, from settings and the group's overrides.

Defaults come from CLAW_SANDBOX_* settings. A group may override any of them in its settings
JSON column, e.g. ``groups.settings = {"sandbox": {"memory_mb": 2048, "wall_seconds": 120}}``;
the same document may hold ``"ipc_actions": ["send_message"]`` to narrow what its code may ask
the host for (see claw/sandbox/ipc/policy.py). Unknown keys or out-of-range values are refused
with a clear error rather than silently ignored: a typo must not loosen or drop a limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from claw.config import Settings
from claw.sandbox.errors import SandboxConfigError

#: keys of groups.settings["sandbox"] that are not limits (claw/sandbox/ipc/policy.py)
POLICY_KEYS = frozenset({"ipc_actions", "code_agent_prompts", "schedule_min_minutes"})


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    memory_mb: int = Field(ge=32, le=1 << 20)  #: the whole run's memory (cgroup) and RLIMIT_AS
    cpu_seconds: int = Field(ge=1, le=86_400)  #: CPU time per process (RLIMIT_CPU)
    processes: int = Field(ge=4, le=65_536)  #: processes and threads of the run (cgroup pids, RLIMIT_NPROC)
    file_size_mb: int = Field(ge=1, le=1 << 20)  #: largest file written (RLIMIT_FSIZE)
    open_files: int = Field(ge=16, le=1 << 20)  #: RLIMIT_NOFILE
    wall_seconds: float = Field(gt=0, le=86_400)  #: then the whole sandbox is killed
    tmp_mb: int = Field(ge=1, le=1 << 16)  #: size of the private /tmp
    output_kb: int = Field(ge=1, le=1 << 14)  #: output kept; the rest is cut with a marker
    heartbeat_timeout: float = Field(gt=0, le=86_400)  #: a stale heartbeat kills the sandbox
    ipc_rate: int = Field(ge=0, le=100_000)  #: IPC requests per minute per group
    turn_seconds: float = Field(gt=0, le=86_400)  #: sandbox time of all runs of one turn
    disk_mb: int = Field(ge=8, le=1 << 22)  #: the group's workspace size (claw/sandbox/quota.py)
    files: int = Field(ge=100, le=1 << 26)  #: files and folders in the group's workspace

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb << 20

    @property
    def file_size_bytes(self) -> int:
        return self.file_size_mb << 20

    @property
    def disk_bytes(self) -> int:
        return self.disk_mb << 20

    @property
    def output_bytes(self) -> int:
        return self.output_kb << 10


def default_limits(settings: Settings) -> Limits:
    return Limits(**{name: getattr(settings, f"sandbox_{name}") for name in Limits.model_fields})


def limits_for(settings: Settings, overrides: Mapping[str, Any] | None = None) -> Limits:
    """The settings' limits with a group's ``settings["sandbox"]`` overrides applied."""
    values = default_limits(settings).model_dump()
    given = {k: v for k, v in (overrides or {}).items() if k not in POLICY_KEYS}
    try:
        return Limits(**{**values, **given})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SandboxConfigError(
            f"invalid sandbox settings for this group ({problems}); fix groups.settings['sandbox']"
        ) from None

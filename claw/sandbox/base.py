"""What every sandbox backend provides: a launch plan for a run, and an honest status.

A backend never starts anything itself: ``plan(spec)`` returns the argv and start-up details,
and claw/sandbox/process.py runs every plan the same way (output cap, wall clock, kill).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from claw.config import Settings
from claw.sandbox.errors import SandboxConfigError
from claw.sandbox.limits import Limits
from claw.sandbox.process import LaunchPlan

#: where the guest helper (claw_ipc) lives inside bwrap and docker sandboxes
GUEST_DIR_INSIDE = "/opt/claw"
#: where the group's scratch folder is inside bwrap and docker sandboxes
WORKSPACE_INSIDE = "/workspace"
#: where the IPC folders are inside them (requests/ and heartbeat/ writable, responses/ not)
IPC_INSIDE = "/ipc"
#: where the group's personality and memory are shown, read-only
GROUP_INSIDE = "/group"
#: the guest helper's files on the host
GUEST_DIR = Path(__file__).resolve().parent / "guest"
GUEST_FILES = ("claw_ipc.py", "sitecustomize.py")
#: seconds between the heartbeats a Python process in the sandbox writes
HEARTBEAT_INTERVAL = 1.0
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
LANGUAGES = ("python", "bash")


class Strength(StrEnum):
    STRONG = "strong"  #: namespaces or a container: no network, no host files, own processes
    NONE = "NOT isolation"  #: limits only; the code can do what claw's user can


@dataclass(frozen=True, slots=True)
class BackendStatus:
    name: str
    available: bool
    strength: Strength
    detail: str  #: what it does here, or what is wrong and how to fix it


@dataclass(frozen=True, slots=True)
class Mount:
    source: Path  #: on the host
    inside: str  #: where the sandbox sees it
    writable: bool


@dataclass(frozen=True, slots=True)
class RunSpec:
    workspace: Path  #: the group's scratch folder on the host: the sandbox's /workspace
    language: str  #: "python" | "bash"
    code: str
    limits: Limits
    ipc: Path | None = None  #: the group's .ipc folder (requests/, responses/, heartbeat/)
    shown: tuple[Mount, ...] = ()  #: host-owned files shown read-only (personality, memory)

    def mounts(self) -> list[Mount]:
        """Everything of the host the sandbox sees, in mount order; only the scratch folder,
        requests/ and heartbeat/ are writable."""
        mounts = [Mount(self.workspace, WORKSPACE_INSIDE, True)]
        if self.ipc is not None:
            mounts += [
                Mount(self.ipc / "requests", f"{IPC_INSIDE}/requests", True),
                Mount(self.ipc / "responses", f"{IPC_INSIDE}/responses", False),
                Mount(self.ipc / "heartbeat", f"{IPC_INSIDE}/heartbeat", True),
            ]
        return mounts + [Mount(m.source, m.inside, False) for m in self.shown]


class Backend(Protocol):
    name: str

    def status(self) -> BackendStatus: ...

    def plan(self, spec: RunSpec) -> LaunchPlan: ...


def sandbox_env(*, ipc_dir: str, guest_dir: str, home: str = "/tmp") -> dict[str, str]:
    """The whole environment sandboxed code gets: nothing of claw's (no keys, no tokens)."""
    return {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": "/tmp",
        "USER": "sandbox",
        "PYTHONPATH": guest_dir,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "CLAW_IPC_DIR": ipc_dir,
        "CLAW_HEARTBEAT_INTERVAL": str(HEARTBEAT_INTERVAL),
    }


def inner_command(language: str, code: str, *, python: str, bash: str) -> list[str]:
    if language == "python":
        return [python, "-c", code]
    if language == "bash":
        return [bash, "-c", code]
    raise ValueError(f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")


def sandbox_owner(settings: Settings) -> tuple[int, int] | None:
    """The host uid:gid sandboxed code runs as when claw runs as root (None otherwise).

    As root, the sandbox must not run as root on the host: the kernel does not count root's
    processes against RLIMIT_NPROC, and a kernel escape would land as root. The group's
    directory is handed to this uid so the code can write its workspace.
    """
    if os.geteuid() != 0:
        return None
    if settings.sandbox_uid == 0 or settings.sandbox_gid == 0:
        raise SandboxConfigError("CLAW_SANDBOX_UID and CLAW_SANDBOX_GID must not be 0 (root)")
    return settings.sandbox_uid, settings.sandbox_gid


def hand_over(path: Path, owner: tuple[int, int] | None) -> None:
    """Give a directory or file claw created to the sandbox's uid (no-op unless root)."""
    if owner is not None:
        os.chown(path, *owner, follow_symlinks=False)

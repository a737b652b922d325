"""One control group per sandboxed run: memory and process count for the run as a whole.

Why: rlimits are per process. RLIMIT_AS let six children take 1 GB each, and the tmpfs /tmp
and /dev of a sandbox are charged to nobody's rlimit at all. A cgroup counts every process of
the run together, and the kernel charges tmpfs pages to the cgroup of the writer, so a full
/tmp counts against the run's memory too.

Where: a cgroup v2 child of ``CLAW_SANDBOX_CGROUP`` (or of claw's own v2 cgroup) when that
cgroup delegates the memory and pids controllers; else cgroup v1, a child of claw's own
memory and pids cgroups (nested, so the run stays inside whatever limits claw itself has).
Neither (not root, no delegation, a container without cgroup access): the documented fallback
is per-process limits only (RLIMIT_AS, RLIMIT_NPROC), and `claw sandbox status` says so.

Race-free start: the cgroup's ``cgroup.procs`` files are opened before the fork and the child
writes "0" (itself) into them before it execs bwrap, so nothing of the run ever runs outside.
At the end everything still in it is killed and the directory removed.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PREFIX = "claw-run-"
#: how long close() keeps killing what is left before it gives up on removing the cgroup
KILL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Support:
    """What this machine offers: a kind ("v2", "v1" or "none") and where runs go, or why not."""

    kind: str
    parents: tuple[Path, ...] = ()  #: v2: one parent; v1: the memory parent, then the pids parent
    reason: str = ""

    @property
    def describe(self) -> str:
        if self.kind == "v2":
            return f"memory and pids per run: cgroup v2 under {self.parents[0]}"
        if self.kind == "v1":
            return "memory and pids per run: cgroup v1 (memory, pids controllers)"
        return (f"NOT per run ({self.reason}): memory and processes are limited per process "
                f"only (RLIMIT_AS, RLIMIT_NPROC)")


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _mounts() -> dict[str, Path]:
    """"v2" or a v1 controller name -> where that hierarchy is mounted."""
    found: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        if parts[2] == "cgroup2":
            found.setdefault("v2", Path(parts[1]))
        elif parts[2] == "cgroup":
            for option in parts[3].split(","):
                if option in ("memory", "pids"):
                    found.setdefault(option, Path(parts[1]))
    return found


def _v2_parent(configured: str | None, mounts: dict[str, Path], own: dict[str, str]) -> Path | None:
    if configured:
        parent = Path(configured)
    elif "v2" in mounts and "" in own:
        parent = mounts["v2"] / own[""].lstrip("/")
    else:
        return None
    try:
        delegated = set((parent / "cgroup.subtree_control").read_text().split())
    except OSError:
        return None
    if {"memory", "pids"} <= delegated and os.access(parent, os.W_OK):
        return parent
    return None


@lru_cache(maxsize=4)
def support(configured: str | None = None) -> Support:
    """Probe once per process (and per CLAW_SANDBOX_CGROUP): can runs get a cgroup here?"""
    mounts, own = _mounts(), _own_paths()
    parent = _v2_parent(configured, mounts, own)
    if parent is not None:
        return _tried(Support("v2", (parent,)))
    if configured:
        return Support("none", reason=f"CLAW_SANDBOX_CGROUP={configured} does not delegate memory and pids")
    if "memory" in mounts and "pids" in mounts and "memory" in own and "pids" in own:
        parents = (mounts["memory"] / own["memory"].lstrip("/"), mounts["pids"] / own["pids"].lstrip("/"))
        return _tried(Support("v1", parents))
    return Support("none", reason="no cgroup v2 with memory and pids delegated, and no cgroup v1 memory and pids")


def _tried(candidate: Support) -> Support:
    """Really create and remove a cgroup: only that proves we may."""
    try:
        RunCgroup.create(candidate, memory_bytes=64 << 20, processes=8).close()
    except OSError as exc:
        return Support("none", reason=f"cannot create a {candidate.kind} cgroup here: {exc.strerror or exc}")
    return candidate


@dataclass
class RunCgroup:
    """The cgroup (one directory in v2, two in v1) of one run."""

    kind: str
    dirs: tuple[Path, ...]
    _fds: list[int] = field(default_factory=list)

    @classmethod
    def create(cls, where: Support, *, memory_bytes: int, processes: int) -> RunCgroup:
        name = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:10]}"
        dirs = tuple(parent / name for parent in where.parents)
        group = cls(where.kind, ())
        for parent in where.parents:
            _sweep(parent)
        try:
            for directory in dirs:
                directory.mkdir()
                group.dirs += (directory,)
            group._limit(memory_bytes, processes)
            group._fds = [os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for d in dirs]
        except OSError:
            group.close()
            raise
        return group

    def _limit(self, memory_bytes: int, processes: int) -> None:
        if self.kind == "v2":
            (directory,) = self.dirs
            _write(directory / "memory.max", memory_bytes)
            _write(directory / "memory.swap.max", 0, optional=True)
            _write(directory / "memory.oom.group", 1, optional=True)  # one OOM ends the whole run
            _write(directory / "pids.max", processes)
            return
        memory, pids = self.dirs
        _write(memory / "memory.limit_in_bytes", memory_bytes)
        _write(memory / "memory.memsw.limit_in_bytes", memory_bytes, optional=True)  # no swap either
        _write(pids / "pids.max", processes)

    def join(self) -> None:
        """Called in the forked child before exec: it (pid 0 = the writer) enters the cgroup.

        Only writes to descriptors opened before the fork; an error makes the start fail."""
        for fd in self._fds:
            os.write(fd, b"0")

    def started(self) -> None:
        """The child has exec'd: the parent's copies of the descriptors are no longer needed."""
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def oom_kills(self) -> int:
        """How many processes the kernel killed for the run's memory limit."""
        name = "memory.events" if self.kind == "v2" else "memory.oom_control"
        try:
            for line in (self.dirs[0] / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, IndexError, ValueError):
            pass
        return 0

    def kill(self) -> None:
        """SIGKILL everything in the run (v2: cgroup.kill; v1: pid by pid until none is left)."""
        if self.kind == "v2" and self.dirs:
            _write(self.dirs[0] / "cgroup.kill", 1, optional=True)
        for directory in self.dirs:
            for pid in _pids(directory):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def close(self) -> None:
        """Kill what is left and remove the cgroup; a leftover is logged and swept later."""
        self.started()
        deadline = time.monotonic() + KILL_SECONDS
        for directory in reversed(self.dirs):
            while True:
                self.kill()
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        log.error("sandbox_cgroup_left path=%s error=%s", directory, exc.strerror)
                        break
                    time.sleep(0.02)
        self.dirs = ()


def _pids(directory: Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _write(path: Path, value: int, *, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise


def _sweep(parent: Path) -> None:
    """Remove cgroups of runs whose claw process died before it could (named by its pid)."""
    try:
        entries = [p for p in parent.iterdir() if p.name.startswith(PREFIX) and p.is_dir()]
    except OSError:
        return
    for entry in entries:
        owner = entry.name[len(PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            for pid in _pids(entry):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                entry.rmdir()
                log.warning("sandbox_cgroup_swept path=%s", entry)
            except OSError:
                pass

"""Where a bench run's CPU goes: CPU seconds of each process role of the stack, per message.

Wall-clock ratios (msg/s with 16 shards over 1) move with whatever else runs on the machine;
the CPU a message costs in each role does not, or far less, so it is the figure to work on.
A snapshot of every process's ``cpu_times`` (user + system) is taken before the measured
conversations and one after; the difference, summed by role, divided by the messages answered,
is what each role costs a message. The machine-wide figure in the same window says how much of
the CPU was someone else's (other work on a shared machine).

A process that ends inside the window (none should: the fork server keeps its children) loses
its CPU from the count; one that starts inside it counts from zero.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import psutil

from claw.bench.processes import process_name

#: roles in the order they are printed
ROLES = ("shard worker", "shard pool", "io", "beat", "api", "flower", "fork server", "supervisor", "redis",
         "bench", "other")


#: process names (claw.bench.processes) whose role is not the name itself
_ROLE_OF_NAME = {"claw up (supervisor)": "supervisor", "forkserver": "fork server"}
_SHARD_NAME = re.compile(r"shard\d+( pool)?")


def role_of(process: psutil.Process, *, root: int, redis_pid: int | None, bench_pid: int) -> str:
    """The role of one process of a `claw up` tree (or of the bench and its Redis): its name
    as claw bench footprint gives it (claw.bench.processes), with every shard's worker one role
    and every shard's prefork pool process another."""
    if process.pid == bench_pid:
        return "bench"
    if process.pid == redis_pid:
        return "redis"
    name = process_name(process, root)
    if shard := _SHARD_NAME.fullmatch(name):
        return "shard pool" if shard.group(1) else "shard worker"
    role = _ROLE_OF_NAME.get(name, name)
    return role if role in ROLES else "other"


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True)
class CpuSnapshot:
    #: pid -> (role, CPU seconds so far)
    processes: dict[int, tuple[str, float]]
    #: the whole machine's busy CPU seconds (all processes, all cores) so far
    machine_busy: float


def take_snapshot(root: int, *, redis_pid: int | None = None, bench_pid: int | None = None) -> CpuSnapshot:
    """CPU seconds of the `claw up` tree under ``root``, the bench's Redis and the bench itself."""
    bench_pid = bench_pid if bench_pid is not None else os.getpid()
    found: dict[int, tuple[str, float]] = {}
    candidates: list[psutil.Process] = []
    try:
        top = psutil.Process(root)
        candidates = [top, *top.children(recursive=True)]
    except psutil.Error:
        pass
    for pid in (redis_pid, bench_pid):
        if pid is not None:
            try:
                candidates.append(psutil.Process(pid))
            except psutil.Error:
                pass
    for process in candidates:
        try:
            role = role_of(process, root=root, redis_pid=redis_pid, bench_pid=bench_pid)
            found[process.pid] = (role, _cpu_seconds(process))
        except psutil.Error:
            continue  # ended meanwhile
    machine = psutil.cpu_times()
    return CpuSnapshot(found, float(sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)))


@dataclass(frozen=True)
class RoleCpu:
    role: str
    processes: int
    seconds: float


@dataclass(frozen=True)
class CpuUse:
    """CPU spent in a window, by role, and by the whole machine."""

    roles: list[RoleCpu] = field(default_factory=list)
    machine_busy: float = 0.0  #: busy CPU seconds of the whole machine (ours and others')
    wall: float = 0.0

    @property
    def total(self) -> float:
        return sum(r.seconds for r in self.roles)

    def ms_per(self, messages: int) -> dict[str, float]:
        return {r.role: 1000 * r.seconds / messages for r in self.roles}


def cpu_between(before: CpuSnapshot, after: CpuSnapshot, *, wall: float) -> CpuUse:
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    for pid, (role, end) in after.processes.items():
        start = before.processes.get(pid, (role, 0.0))[1]
        seconds[role] = seconds.get(role, 0.0) + max(0.0, end - start)
        counts[role] = counts.get(role, 0) + 1
    roles = [RoleCpu(role, counts[role], seconds[role]) for role in ROLES if role in seconds]
    return CpuUse(roles, after.machine_busy - before.machine_busy, wall)


def render_cpu(use: CpuUse, messages: int, *, indent: str = "    ") -> list[str]:
    """Lines of CPU ms per message by role, the total, and how busy the machine was."""
    if not use.roles or messages <= 0:
        return []
    parts = "  ".join(f"{r.role}{f' x{r.processes}' if r.processes > 1 else ''} {1000 * r.seconds / messages:.1f}"
                      for r in use.roles)
    cores = os.cpu_count() or 1
    others = max(0.0, use.machine_busy - use.total)
    return [
        f"{indent}CPU ms/message: {parts}",
        f"{indent}  total {1000 * use.total / messages:.1f} ms/message; this stack and the bench used "
        f"{use.total / use.wall if use.wall else 0:.2f} of {cores} cores, other work "
        f"{others / use.wall if use.wall else 0:.2f}",
    ]

"""What a bench run found, and the table `claw bench` prints.

The table puts both sides next to the facts that decide how far they can be compared: the
machine, the Redis they shared, and how many worker processes each side had.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field

#: the targets of the issue: claw may cost some speed over bare Celery, but not much
THROUGHPUT_RATIO_MIN = 0.5
P50_RATIO_MAX = 3.0
P99_MAX_MS = 50.0


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: always a value that was really measured, never interpolated."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Machine:
    cpus: int
    usable_cpus: int
    system: str
    python: str
    redis_version: str

    @classmethod
    def here(cls, redis_version: str) -> Machine:
        return cls(
            cpus=os.cpu_count() or 0,
            usable_cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0,
            system=f"{platform.system()} {platform.machine()}",
            python=platform.python_version(),
            redis_version=redis_version,
        )


@dataclass(frozen=True)
class SideResult:
    """One side of the comparison: throughput and sequential round-trip latency."""

    name: str
    throughput: float  #: per second, in ``unit``
    unit: str
    latencies_ms: list[float]
    workers: str
    notes: list[str] = field(default_factory=list)
    #: (stage, p50 ms) of where one round trip spends its time, when the side can tell
    stages: list[tuple[str, float]] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)


@dataclass(frozen=True)
class BenchReport:
    machine: Machine
    claw: SideResult
    raw: SideResult

    @property
    def throughput_ratio(self) -> float:
        return self.claw.throughput / self.raw.throughput

    @property
    def p50_ratio(self) -> float:
        return self.claw.p50_ms / self.raw.p50_ms

    def targets(self) -> list[tuple[str, str, str, bool]]:
        """(name, value, target, met) for each target of the issue."""
        return [
            ("throughput claw/raw", f"{self.throughput_ratio:.2f}", f">= {THROUGHPUT_RATIO_MIN:g}",
             self.throughput_ratio >= THROUGHPUT_RATIO_MIN),
            ("p50 claw/raw", f"{self.p50_ratio:.2f}", f"<= {P50_RATIO_MAX:g}",
             self.p50_ratio <= P50_RATIO_MAX),
            ("p99 claw", f"{self.claw.p99_ms:.2f} ms", f"<= {P99_MAX_MS:g} ms",
             self.claw.p99_ms <= P99_MAX_MS),
        ]


def render(report: BenchReport) -> str:
    m = report.machine
    lines = [
        "claw bench: claw vs a raw Celery 3-task chain, one run on one private Redis",
        f"machine: {m.cpus} CPUs ({m.usable_cpus} usable), {m.system}, Python {m.python}, "
        f"redis {m.redis_version}",
        "",
        f"{'side':<5} {'throughput':>20} {'p50 ms':>9} {'p99 ms':>9}  workers",
    ]
    for side in (report.claw, report.raw):
        rate = f"{side.throughput:.1f} {side.unit}"
        lines.append(f"{side.name:<5} {rate:>20} {side.p50_ms:>9.2f} {side.p99_ms:>9.2f}  {side.workers}")
    lines.append("")
    lines.extend(f"{side.name}: {note}" for side in (report.claw, report.raw) for note in side.notes)
    lines += ["", f"{'ratio / target':<22} {'value':>10}  {'target':<10} result"]
    for name, value, target, met in report.targets():
        lines.append(f"{name:<22} {value:>10}  {target:<10} {'met' if met else 'MISSED'}")
    if report.claw.stages:
        lines += ["", "where a claw push->reply spends its time (p50 per stage, latency samples):"]
        lines.extend(f"  {stage:<56} {ms:>7.2f} ms" for stage, ms in report.claw.stages)
    return "\n".join(lines)

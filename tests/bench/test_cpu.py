"""claw.bench.cpu: the CPU a bench run spends, by process role, from real processes' counters."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from claw.bench.cpu import CpuSnapshot, CpuUse, RoleCpu, cpu_between, render_cpu, take_snapshot

#: a child that burns a known amount of CPU, then waits to be measured
BURN = ("import time, sys\nsys.stdin.readline()\nend = time.process_time() + float(sys.argv[1])\n"
        "while time.process_time() < end: pass\nprint('burnt', flush=True)\nsys.stdin.read()")


@pytest.fixture
def burner() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", BURN, "0.3"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    yield process
    process.kill()
    process.wait()


def test_a_process_tree_s_cpu_is_counted_by_role_between_two_snapshots(burner: subprocess.Popen[bytes]) -> None:
    # Given a snapshot taken before a child of ours burns 0.3 s of CPU (the child is the
    # "root" of the measured tree, standing in for `claw up`; its start-up is before it)
    before = take_snapshot(burner.pid, redis_pid=None)
    # When it has burnt them (it then waits on stdin, so its counter stays put)
    assert burner.stdin is not None and burner.stdout is not None
    burner.stdin.write(b"go\n")
    burner.stdin.flush()
    assert burner.stdout.readline() == b"burnt\n"
    after = take_snapshot(burner.pid, redis_pid=None)
    use = cpu_between(before, after, wall=1.0)
    # Then the tree's root is the "supervisor" role and its CPU is what it burnt since `before`
    roles = {r.role: r for r in use.roles}
    assert roles["supervisor"].processes == 1
    assert 0.2 <= roles["supervisor"].seconds <= 0.6
    # And the bench itself (this process) is counted as "bench"
    assert "bench" in roles


def test_a_process_that_started_in_the_window_counts_from_zero() -> None:
    # Given a snapshot without pid 2 and one with it
    before = CpuSnapshot({1: ("api", 5.0)}, machine_busy=100.0)
    after = CpuSnapshot({1: ("api", 5.5), 2: ("shard pool", 0.25), 3: ("shard pool", 0.5)}, machine_busy=102.0)
    # When the two are compared
    use = cpu_between(before, after, wall=2.0)
    # Then each role has its processes' sums, in the printed order of roles
    assert use.roles == [RoleCpu("shard pool", 2, 0.75), RoleCpu("api", 1, 0.5)]
    assert use.total == pytest.approx(1.25)
    assert use.ms_per(10) == {"shard pool": pytest.approx(75.0), "api": pytest.approx(50.0)}


def test_the_rendering_gives_ms_per_message_per_role_and_the_other_work_on_the_machine() -> None:
    use = CpuUse([RoleCpu("shard pool", 16, 1.6), RoleCpu("api", 1, 0.8)], machine_busy=4.0, wall=2.0)
    lines = render_cpu(use, 100)
    assert "shard pool x16 16.0" in lines[0] and "api 8.0" in lines[0]
    assert "total 24.0 ms/message" in lines[1]
    assert "used 1.20 of" in lines[1] and "other work 0.80" in lines[1]
    assert render_cpu(CpuUse(), 100) == []


@pytest.mark.slow
def test_claw_bench_scale_prints_each_role_s_cpu_per_message() -> None:
    """The real stack (~40 s): every process of `claw up` is found and named by its role."""
    from claw.bench.scale import ScaleOptions, render_scale, run_scale_bench

    report = run_scale_bench(ScaleOptions(shards=(1, 2), groups=4, messages=2, latency_ms=0, history=0,
                                          databases=False, postgres=False))
    two = report.runs[1]
    assert two.cpu is not None
    roles = {r.role: r for r in two.cpu.roles}
    # the two shard workers, each running its own turns (solo pool: claw/runtime/solo_pool.py)
    assert roles["shard worker"].processes == 2 and "shard pool" not in roles
    assert roles["shard worker"].seconds > 0
    assert {"io", "beat", "api", "fork server", "redis", "bench", "supervisor"} <= set(roles)
    assert "other" not in roles
    assert "CPU ms/message: shard worker x2" in render_scale(report)

"""`claw bench` end to end: the real command, a real Redis, the real stack and raw workers.

Only the shape of the report is checked, never a timing threshold: the figures depend on the
machine, and a missed target is a result the bench prints, not a failure.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
TIMEOUT = 120
SMALL_RUN = ["--messages", "60", "--groups", "6", "--samples", "20", "--chains", "60"]


@pytest.fixture(scope="module")
def report() -> str:
    # Given nothing running, When `claw bench` runs with small numbers
    bench = subprocess.Popen(
        [sys.executable, "-m", "claw.cli", "bench", *SMALL_RUN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        stdout, stderr = bench.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the bench then stops the stack, workers and Redis it started
        bench.terminate()
        stdout, stderr = bench.communicate(timeout=90)
        pytest.fail(f"claw bench took over {TIMEOUT}s:\n{stdout}\n{stderr}")
    # Then it succeeds whatever the figures are
    assert bench.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    return stdout


def figures(report: str, pattern: str) -> list[float]:
    match = re.search(pattern, report, re.MULTILINE)
    assert match, f"no match for {pattern!r} in:\n{report}"
    return [float(group) for group in match.groups()]


def test_both_sides_report_throughput_p50_and_p99(report: str) -> None:
    claw = figures(report, rf"^claw\s+{NUMBER} msg/s\s+{NUMBER}\s+{NUMBER}\s+\d+ shard workers")
    raw = figures(report, rf"^raw\s+{NUMBER} chains/s\s+{NUMBER}\s+{NUMBER}\s+\d+ workers")
    for value in claw + raw:
        assert value > 0
    # p99 is never below p50
    assert claw[2] >= claw[1] and raw[2] >= raw[1]


def test_ratios_and_targets_are_printed(report: str) -> None:
    (throughput_ratio,) = figures(report, rf"^throughput claw/raw\s+{NUMBER}\s+>= 0.5\s+(?:met|MISSED)$")
    (p50_ratio,) = figures(report, rf"^p50 claw/raw\s+{NUMBER}\s+<= 3\s+(?:met|MISSED)$")
    (p99,) = figures(report, rf"^p99 claw\s+{NUMBER} ms\s+<= 50 ms\s+(?:met|MISSED)$")
    assert throughput_ratio > 0 and p50_ratio > 0 and p99 > 0


def test_machine_facts_and_coalesced_turns_are_printed(report: str) -> None:
    (cpus,) = figures(report, rf"^machine: {NUMBER} CPUs")
    assert cpus >= 1
    (messages, groups, turns) = figures(
        report, rf"^claw: {NUMBER} messages over {NUMBER} groups .* answered in {NUMBER} turns$"
    )
    assert (messages, groups) == (60, 6)
    # coalescing can only merge messages of a group into fewer turns, never more
    assert 1 <= turns <= messages

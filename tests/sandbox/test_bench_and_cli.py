"""`claw bench sandbox` and `claw sandbox ...` as a user runs them (real processes, real bwrap).

Only the shape of the bench's report is checked, never a timing: figures depend on the machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from claw.bench.sandbox import run_sandbox_bench

NUMBER = r"[0-9]+\.[0-9]"


def test_bench_measures_bare_launch_and_run_code_side_by_side(bwrap_works: None, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = run_sandbox_bench(samples=5)
    assert "5 samples per side, interleaved" in report
    assert re.search(rf"bare subprocess\s+{NUMBER}\s+{NUMBER}\s+-", report), report
    assert re.search(rf"sandbox launch\s+{NUMBER}\s+{NUMBER}\s+\+-?{NUMBER} ms", report)
    assert re.search(rf"run_code path\s+{NUMBER}\s+{NUMBER}\s+\+-?{NUMBER} ms", report)
    assert re.search(r"target: bwrap overhead <= 30 ms at p50 \(run_code path\): (met|MISSED)", report)


def claw(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "CLAW_HOME": str(tmp_path / "home"),
           "CLAW_WORKSPACE": str(tmp_path / "workspace"), "CLAW_SANDBOX": "bwrap"}
    return subprocess.run([sys.executable, "-m", "claw.cli", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_cli_sets_a_groups_limits_and_runs_code_under_them(bwrap_works: None, tmp_path: Path) -> None:
    from claw.db import write_session
    from claw.db.migrate import upgrade
    from claw.pipeline.inbox import ensure_group

    url = f"sqlite:///{tmp_path / 'home' / 'claw.db'}"
    (tmp_path / "home").mkdir()
    upgrade(url)
    with write_session(url) as session:
        ensure_group(session, "http", "team")
    # When the operator narrows the group's memory and runs code there
    limits = claw(tmp_path, "sandbox", "limits", "http:team", "--set", "memory_mb=300")
    assert limits.returncode == 0, limits.stderr
    assert json.loads(limits.stdout)["overrides"] == {"memory_mb": 300}
    ran = claw(tmp_path, "sandbox", "run", "--group", "http:team",
               "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("exit code 0 (") and ran.stdout.endswith("\n300\n\n")
    # And a bad value is refused with the reason
    bad = claw(tmp_path, "sandbox", "limits", "http:team", "--set", "memory_mb=1")
    assert bad.returncode == 1 and "memory_mb: Input should be greater than or equal to 32" in bad.stderr
    status = claw(tmp_path, "sandbox", "status")
    assert status.returncode == 0 and status.stdout.startswith("bwrap (strong, CLAW_SANDBOX)")

"""`claw bench sandbox`: what the sandbox adds to starting `python -c pass`.

Three sides, measured interleaved in one run so that they share the machine's noise:

    bare       the same interpreter as a plain subprocess (clean environment)
    launch     the backend's launch plan alone (bwrap + prlimit + the guest heartbeat)
    run_code   the whole path the tool takes: workspace, IPC host thread, launch, drain

The target (the issue's): at most 30 ms of overhead at p50 for bwrap.
"""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from claw.bench.report import percentile
from claw.config import get_settings
from claw.sandbox import Identity, RunSpec, default_limits, quota, run_code, select_backend
from claw.sandbox.base import SAFE_PATH, hand_over, sandbox_owner
from claw.sandbox.interpreter import sandbox_python
from claw.sandbox.process import Execution

OVERHEAD_TARGET_MS = 30.0
WARM_UP = 3
CODE = "pass"


def _timed(action: Callable[[], object]) -> float:
    begin = time.perf_counter()
    action()
    return (time.perf_counter() - begin) * 1000


def run_sandbox_bench(samples: int = 200) -> str:
    """Measure and return the printed report."""
    with tempfile.TemporaryDirectory(prefix="claw-bench-sandbox-") as directory:
        root = Path(directory)
        settings = get_settings().model_copy(update={"workspace": root / "workspace", "home": root / "home"})
        backend, status = select_backend(settings)
        python = sandbox_python(settings).path if backend.name != "docker" else "python3"
        limits = default_limits(settings)
        workspace = root / "workspace" / "scratch"
        workspace.mkdir(parents=True)
        hand_over(workspace, sandbox_owner(settings) if backend.name != "subprocess" else None)
        identity = Identity("bench:sandbox")

        def bare() -> None:
            subprocess.run([python, "-c", CODE], env={"PATH": SAFE_PATH, "LANG": "C.UTF-8"}, check=True)

        def launch() -> None:
            result = Execution(backend.plan(RunSpec(workspace, "python", CODE, limits)), limits).wait()
            if result.exit_code != 0:
                raise RuntimeError(f"the sandbox failed: {result.output[-300:]}")

        def full() -> None:
            result = run_code(settings, identity, "python", CODE, overrides={})
            if result.exit_code != 0:
                raise RuntimeError(f"the sandbox failed: {result.output[-300:]}")

        sides = {"bare subprocess": bare, "sandbox launch": launch, "run_code path": full}
        timings: dict[str, list[float]] = {name: [] for name in sides}
        try:
            for n in range(WARM_UP + samples):
                for name, action in sides.items():
                    elapsed = _timed(action)
                    if n >= WARM_UP:
                        timings[name].append(elapsed)
        finally:
            quota.release_under(root)  # the group's quota image, mounted by run_code as root
    return _render(status.name, str(status.strength), python, samples, timings)


def _render(backend: str, strength: str, python: str, samples: int, timings: dict[str, list[float]]) -> str:
    base = percentile(timings["bare subprocess"], 50)
    lines = [
        f"claw bench sandbox: `{python} -c {CODE}`, {samples} samples per side, interleaved",
        f"  backend {backend} ({strength}); {os.cpu_count()} cpus, {platform.system()} {platform.machine()}",
        "",
        f"  {'side':<18}{'p50 ms':>9}{'p99 ms':>9}{'overhead p50':>15}",
    ]
    for name, values in timings.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        extra = "-" if name == "bare subprocess" else f"+{p50 - base:.1f} ms"
        lines.append(f"  {name:<18}{p50:>9.1f}{p99:>9.1f}{extra:>15}")
    overhead = percentile(timings["run_code path"], 50) - base
    if backend == "bwrap":
        verdict = "met" if overhead <= OVERHEAD_TARGET_MS else "MISSED"
        lines += ["", f"  target: bwrap overhead <= {OVERHEAD_TARGET_MS:.0f} ms at p50 (run_code path): "
                      f"{verdict} ({overhead:+.1f} ms)"]
    return "\n".join(lines)

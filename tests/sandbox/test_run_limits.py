"""Limits for the sandbox as a whole, tried as an attacker would: /dev, memory, fork bombs.

The per-run cgroup (claw/sandbox/cgroup.py) is what makes memory and processes count for the
run as a whole; where this machine offers none the tests that need it are skipped (and fail in
CI, which runs as root on a machine with cgroups).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from claw.agent.tools.code import render
from claw.config import Settings
from claw.sandbox import cgroup
from claw.sandbox.select import run_limits
from tests.support.sandbox import run


@pytest.fixture
def run_cgroups(settings: Settings) -> cgroup.Support:
    where = cgroup.support(settings.sandbox_cgroup)
    if where.kind == "none":
        message = f"no per-run cgroup here: {where.reason}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return where


def test_dev_holds_only_devices_and_stores_nothing(settings: Settings) -> None:
    # Given an attacker who found /dev writable and sized only by the host's RAM
    run_ = run(settings, textwrap.dedent("""
        import os
        for path in ("/dev/stash", "/dev/shm/stash", "/dev/pts/stash"):
            try:
                with open(path, "wb") as f:
                    f.write(b"x" * (8 << 20))
                print("stored", path)
            except OSError as exc:
                print("refused", path, exc.strerror)
        open("/dev/null", "wb").write(b"gone")
        print("random", len(open("/dev/urandom", "rb").read(16)), "zero", open("/dev/zero", "rb").read(2))
        print(sorted(os.listdir("/dev")))
    """))
    # Then nothing can be stored there, while the devices code needs still work
    assert "stored" not in run_.output, run_.output
    assert "refused /dev/stash Read-only file system" in run_.output
    assert "refused /dev/shm/stash Read-only file system" in run_.output
    assert "random 16 zero b'\\x00\\x00'" in run_.output
    listed = run_.output.strip().splitlines()[-1]
    for device in ("'null'", "'zero'", "'random'", "'urandom'", "'tty'"):
        assert device in listed


def test_children_together_cannot_exceed_the_runs_memory(settings: Settings, run_cgroups: cgroup.Support) -> None:
    # Given a run limited to 256 MB, whose code forks 6 children that each hold 100 MB
    run_ = run(settings, textwrap.dedent("""
        import os, time
        children = []
        for n in range(6):
            pid = os.fork()
            if pid == 0:
                block = b"\\x01" * (100 << 20)   # really touched, not just reserved
                time.sleep(3)
                os._exit(0)
            children.append(pid)
        held = 0
        for pid in children:
            _, status = os.waitpid(pid, 0)
            held += os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        print("children that kept 100 MB to the end:", held)
    """), memory_mb=256, wall_seconds=30)
    # Then the kernel killed children for the run's limit: at most two fit together
    assert run_.oom_kills >= 1, run_.output
    assert "children that kept 100 MB to the end:" in run_.output, run_.output
    held = int(run_.output.rsplit(":", 1)[1])
    assert held <= 2, run_.output
    # And the agent is told why
    assert "the run's memory limit (256 MB, /tmp included) was hit" in render(run_)


def test_tmp_counts_against_the_runs_memory(settings: Settings, run_cgroups: cgroup.Support) -> None:
    # Given a 200 MB run whose /tmp may hold 200 MB: files there are memory, and are counted
    run_ = run(settings, textwrap.dedent("""
        with open("/tmp/fill", "wb") as f:
            for n in range(150):
                f.write(b"\\x01" * (1 << 20))
        print("wrote 150 MB to /tmp", flush=True)
        block = b"\\x01" * (100 << 20)   # within this process's own 200 MB address space
        print("and holds 100 MB more")
    """), memory_mb=200, tmp_mb=200, file_size_mb=200, wall_seconds=30)
    # Then the 100 MB more do not fit: /tmp's 150 MB were charged to the run
    assert "wrote 150 MB to /tmp" in run_.output, run_.output
    assert "and holds 100 MB more" not in run_.output
    assert run_.oom_kills >= 1 and run_.exit_code != 0


def test_a_fork_bomb_is_capped_for_the_run_as_a_whole(settings: Settings, run_cgroups: cgroup.Support) -> None:
    # Given code that forks sleepers until it cannot, each sleeper forking more as well
    run_ = run(settings, textwrap.dedent("""
        import os, time
        made = 0
        try:
            for n in range(500):
                if os.fork() == 0:
                    try:
                        os.fork()   # the children breed too
                    except OSError:
                        pass
                    time.sleep(5)
                    os._exit(0)
                made += 1
        except OSError as exc:
            print("refused after", made, exc.strerror, flush=True)
        alive = len([p for p in os.listdir("/proc") if p.isdigit()])
        print("alive", alive, flush=True)
        os._exit(0)
    """), processes=20, wall_seconds=30)
    # Then the whole run never held more processes than its limit
    assert "refused after" in run_.output, run_.output
    alive = int(run_.output.split("alive ")[1].split()[0])
    assert alive <= 20, run_.output


def test_nothing_of_a_run_outlives_it(settings: Settings, run_cgroups: cgroup.Support) -> None:
    # Given a run that leaves a daemon behind
    run(settings, "sleep 30 & disown; setsid sleep 31 & echo started", language="bash")
    # Then no cgroup of claw's runs is left with anything in it
    leftovers = [d for parent in run_cgroups.parents for d in parent.glob(f"{cgroup.PREFIX}{os.getpid()}-*")]
    assert leftovers == []


def test_status_says_how_runs_are_limited(settings: Settings) -> None:
    line = run_limits(settings, "bwrap")
    assert "memory and pids per run:" in line and "disk quota per group:" in line
    if cgroup.support(settings.sandbox_cgroup).kind == "none":
        assert "NOT per run" in line


def test_without_a_cgroup_the_fallback_is_named(tmp_path: Path) -> None:
    where = cgroup.support(str(tmp_path))  # a folder that delegates nothing
    assert where.kind == "none"
    assert "per process only (RLIMIT_AS, RLIMIT_NPROC)" in where.describe


def test_runs_go_on_with_per_process_limits_where_no_cgroup_can_be_made(
    tmp_path: Path, settings: Settings
) -> None:
    # Given a machine where claw may not create cgroups (a "delegated" folder that is not one)
    fallback = settings.model_copy(update={"sandbox_cgroup": str(tmp_path)})
    # Then code still runs, under its per-process limits, and the status says so
    run_ = run(fallback, "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)",
               memory_mb=300)
    assert run_.output == "300\n" and run_.oom_kills == 0
    assert "NOT per run" in run_limits(fallback, "bwrap")

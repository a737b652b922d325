"""The bwrap backend doing its ordinary job: run code, keep the workspace, enforce each limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from claw.config import Settings
from claw.sandbox import Identity, run_code
from claw.workspace import group_dir, scratch_dir
from tests.support.sandbox import run


def test_python_and_bash_run_in_the_workspace(settings: Settings) -> None:
    python = run(settings, "import os\nprint(os.getcwd(), os.getuid())\nopen('made.txt', 'w').write('hi')")
    bash = run(settings, "echo $PWD $(id -u); cat made.txt; exit 3", language="bash")
    assert python.exit_code == 0 and python.output == "/workspace 65534\n"
    assert bash.exit_code == 3 and bash.output == "/workspace 65534\nhi"
    assert python.backend == "bwrap"


def test_files_written_stay_in_the_groups_scratch_folder_owned_by_the_sandbox_uid(settings: Settings) -> None:
    run(settings, "import os\nos.makedirs('out')\nopen('out/result.csv', 'w').write('a,b\\n')")
    written = scratch_dir(settings.workspace, "http:team") / "out" / "result.csv"
    assert written.read_text() == "a,b\n"
    group = group_dir(settings.workspace, "http:team")
    assert sorted(p.name for p in group.iterdir()) == [".ipc", "files"]
    if os.geteuid() == 0:  # as root, code runs as CLAW_SANDBOX_UID on the host, not as root
        assert written.stat().st_uid == settings.sandbox_uid
        assert group.stat().st_uid == 0 and group.stat().st_mode & 0o777 == 0o755  # the host's


def test_each_group_sees_only_its_own_files(settings: Settings) -> None:
    run(settings, "open('mine.txt', 'w').write('team')", group="http:team")
    other = run(settings, "import os\nprint(sorted(os.listdir('.')))", group="http:other")
    assert "mine.txt" not in other.output


def test_stdout_and_stderr_arrive_in_order(settings: Settings) -> None:
    run_ = run(settings, "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')\n1/0")
    assert run_.output.startswith("one\ntwo\nthree\nTraceback")
    assert "ZeroDivisionError" in run_.output and run_.exit_code == 1


def test_file_size_and_tmp_size_limits(settings: Settings) -> None:
    run_ = run(settings, """
for path, size in (("/workspace/big", 2 << 20), ("/tmp/big", 3 << 20)):
    try:
        open(path, "wb").write(b"x" * size)
        print("wrote", path)
    except OSError as exc:
        print("refused", path, exc.strerror)
""", file_size_mb=1, tmp_mb=2)
    assert "refused /workspace/big File too large" in run_.output, run_.output
    assert "refused /tmp/big" in run_.output


def test_open_files_limit(settings: Settings) -> None:
    run_ = run(settings, """
handles = []
try:
    for n in range(100):
        handles.append(open("/dev/null"))
    print("opened all", len(handles))
except OSError as exc:
    print("refused after", len(handles), exc.strerror)
""", open_files=20)
    assert "Too many open files" in run_.output, run_.output
    assert int(run_.output.split("refused after ")[1].split()[0]) < 20


def test_cpu_seconds_limit_stops_a_busy_process(settings: Settings) -> None:
    started = time.monotonic()
    run_ = run(settings, "print('spinning', flush=True)\nwhile True:\n    pass", cpu_seconds=1, wall_seconds=20)
    assert run_.killed is None  # the kernel stopped it (SIGXCPU), not the wall clock
    assert run_.exit_code not in (0, None)
    assert time.monotonic() - started < 10


def test_background_processes_do_not_outlive_the_run(settings: Settings) -> None:
    # A duration no other process on this machine uses, so only this run's sleep can match.
    duration = f"300.{os.getpid()}{time.monotonic_ns() % 100000}"
    run_ = run(settings, f"sleep {duration} & echo started $!", language="bash")
    assert run_.output.startswith("started")

    def survivors() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline", "status"])
                if p.info["cmdline"] == ["sleep", duration] and p.info["status"] != psutil.STATUS_ZOMBIE]

    # The kernel kills the rest of the sandbox's pid namespace when its init exits; the SIGKILL
    # is delivered asynchronously, so allow it a moment to land.
    deadline = time.monotonic() + 3
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not survivors()


def test_the_sandbox_dies_with_the_worker(tmp_path: Path, settings: Settings) -> None:
    # Given a worker process running a long sandboxed sleep
    marker = f"claw-orphan-{os.getpid()}-{time.monotonic_ns()}"
    worker = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from claw.config import Settings
        from claw.sandbox import Identity, run_code
        settings = Settings(workspace={str(settings.workspace)!r}, home={str(settings.home)!r}, sandbox="bwrap")
        run_code(settings, Identity("http:team"), "bash", "exec -a {marker} sleep 300", overrides={{}})
    """)])
    try:
        def sandboxed() -> list[psutil.Process]:
            return [p for p in psutil.process_iter(["cmdline", "status"])
                    if p.info["cmdline"] and p.info["cmdline"][0] == marker
                    and p.info["status"] != psutil.STATUS_ZOMBIE]

        deadline = time.monotonic() + 15
        while not sandboxed():
            assert time.monotonic() < deadline, "the sandboxed sleep never started"
            time.sleep(0.05)
        # When the worker is killed outright
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        # Then the sandbox goes too (bwrap --die-with-parent)
        deadline = time.monotonic() + 5
        while sandboxed():
            assert time.monotonic() < deadline, "the sandbox outlived its worker"
            time.sleep(0.05)
    finally:
        worker.kill()


def test_limits_come_from_the_groups_settings_in_the_database(settings: Settings, default_db: str) -> None:
    from claw.db import Group, write_session

    with write_session() as session:
        session.get_one(Group, "http:team").settings = {"sandbox": {"output_kb": 1}}
    run_ = run_code(settings, Identity("http:team"), "python", "print('x' * 5000)")
    assert run_.limits.output_kb == 1 and run_.truncated

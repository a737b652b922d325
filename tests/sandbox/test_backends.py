"""Backend selection, the docker command line, the subprocess fallback, limits and output cap."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from claw.config import Settings
from claw.sandbox import (
    Identity,
    Limits,
    RunSpec,
    SandboxConfigError,
    SandboxUnavailable,
    Strength,
    default_limits,
    describe,
    limits_for,
    run_code,
    select_backend,
)
from claw.sandbox.base import Mount
from claw.sandbox.docker import DockerBackend
from claw.sandbox.output import OutputCapture
from claw.sandbox.process import Execution
from claw.sandbox.subprocess_backend import SubprocessBackend
from tests.support.sandbox import make_settings

# ---- limits and output --------------------------------------------------------------------


def test_group_overrides_replace_the_settings_defaults(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    limits = limits_for(settings, {"memory_mb": 2048, "ipc_actions": ["send_message"]})
    assert limits.memory_mb == 2048 and limits.memory_bytes == 2048 << 20
    assert limits.wall_seconds == settings.sandbox_wall_seconds
    assert default_limits(Settings()).memory_mb == 1024


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [({"memory_mb": 1}, "memory_mb: Input should be greater than or equal to 32"),
     ({"wal_seconds": 5}, "wal_seconds: Extra inputs are not permitted"),
     ({"processes": "many"}, "processes: Input should be a valid integer")],
)
def test_invalid_group_overrides_are_refused_not_ignored(tmp_path: Path, overrides: dict, complaint: str) -> None:
    with pytest.raises(SandboxConfigError, match=complaint):
        limits_for(make_settings(tmp_path), overrides)


def test_output_keeps_head_and_tail_and_says_what_was_cut() -> None:
    capture = OutputCapture(100)
    for n in range(1000):
        capture.feed(f"{n:04d}\n".encode())
    text = capture.render()
    assert text.startswith("0000\n0001\n")
    assert text.endswith("0998\n0999\n")
    assert "[… output truncated: 4,900 of 5,000 bytes cut …]" in text
    small = OutputCapture(100)
    small.feed(b"short")
    assert small.render() == "short" and not small.truncated


# ---- selection ----------------------------------------------------------------------------


def test_auto_detection_picks_bwrap_here_and_doctor_says_how_strong(tmp_path: Path, bwrap_works: None) -> None:
    settings = make_settings(tmp_path, sandbox=None)
    backend, status = select_backend(settings)
    assert backend.name == "bwrap" and status.strength is Strength.STRONG
    ok, detail = describe(settings)
    assert ok and detail.startswith("bwrap (strong, auto-detected): no network; own pid, ipc, uts and user")
    assert "python /usr/bin/python3" in detail or "python /" in detail


def test_a_named_backend_that_cannot_work_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sandbox="docker")
    if DockerBackend(settings).status().available:
        pytest.skip("a Docker engine runs here")
    with pytest.raises(SandboxUnavailable, match="CLAW_SANDBOX=docker cannot run code here"):
        select_backend(settings)
    ok, detail = describe(settings)
    assert not ok and "docker" in detail


def test_a_python_in_a_private_place_is_never_used(tmp_path: Path) -> None:
    from claw.sandbox.interpreter import sandbox_python

    # Given an interpreter inside claw's own workspace (as a venv under /root or /home would be)
    fake = tmp_path / "workspace" / "python3"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    with pytest.raises(SandboxConfigError, match="which the sandbox must not see"):
        sandbox_python(make_settings(tmp_path, sandbox_python=str(fake)))
    # And the default choice is never under /root or /home, whatever runs the tests
    chosen = sandbox_python(make_settings(tmp_path))
    assert not chosen.path.startswith(("/root", "/home")) and chosen.bind is None


# ---- subprocess ---------------------------------------------------------------------------


def test_subprocess_backend_has_limits_and_a_clean_env_but_says_it_is_not_isolation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    settings = make_settings(tmp_path, sandbox="subprocess")
    status = SubprocessBackend(settings).status()
    assert status.strength is Strength.NONE
    assert describe(settings)[1].startswith("WARNING subprocess (NOT isolation, CLAW_SANDBOX): rlimits")
    run_ = run_code(settings, Identity("http:team"), "python", """
import os, resource
print(os.getcwd().endswith("http%3Ateam/files"), sorted(os.environ))
print(resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)
try:
    bytearray(1 << 30)
except MemoryError:
    print("MemoryError")
""", overrides={"memory_mb": 256})
    assert run_.backend == "subprocess"
    assert "sk-secret" not in run_.output and "ANTHROPIC" not in run_.output
    assert run_.output.splitlines()[0].startswith("True ['CLAW_HEARTBEAT_INTERVAL'")
    assert run_.output.splitlines()[1:] == ["256", "MemoryError"]


def test_subprocess_backend_kills_the_process_group_at_the_wall_clock(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sandbox="subprocess")
    started = time.monotonic()
    # durations no other process uses (parallel test workers, other suites on the machine)
    first, second = (f"30{n}.{os.getpid()}{time.monotonic_ns() % 100000}" for n in (1, 2))
    run_ = run_code(settings, Identity("http:team"), "bash", f"sleep {first} & sleep {second}",
                    overrides={"wall_seconds": 1})
    assert run_.killed == "timeout" and time.monotonic() - started < 5
    pattern = f"sleep ({re.escape(first)}|{re.escape(second)})"
    leftover = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    assert leftover == ""


# ---- docker -------------------------------------------------------------------------------


def test_docker_command_line(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sandbox="docker")
    backend = DockerBackend(settings, docker="/usr/bin/docker")
    limits = Limits(**{**default_limits(settings).model_dump(), "memory_mb": 300, "processes": 20,
                       "cpu_seconds": 7, "tmp_mb": 16, "file_size_mb": 2, "open_files": 64})
    workspace, ipc = tmp_path / "ws", tmp_path / ".ipc"
    shown = (Mount(tmp_path / "memory", "/group/memory", True),)  # shown read-only whatever it says
    argv = backend.argv(RunSpec(workspace, "python", "print(1)", limits, ipc=ipc, shown=shown), "claw-sandbox-x")
    joined = " ".join(argv)
    assert argv[:5] == ["/usr/bin/docker", "run", "--rm", "--init", "--name"]
    for expected in [
        "--network none", "--memory 300m --memory-swap 300m", "--pids-limit 20", "--read-only",
        "--tmpfs /tmp:rw,nosuid,nodev,size=16m", "--cap-drop ALL", "--security-opt no-new-privileges",
        "--ulimit cpu=7:8", f"--ulimit fsize={2 << 20}:{2 << 20}", "--ulimit nofile=64:64",
        f"--volume {workspace.resolve()}:/workspace:rw", "--workdir /workspace",
        "--env CLAW_IPC_DIR=/ipc", "--env PYTHONPATH=/opt/claw",
    ]:
        assert expected in joined, expected
    assert argv[-4:] == [settings.sandbox_docker_image, "python3", "-c", "print(1)"]
    volumes = [argv[i + 1] for i, a in enumerate(argv) if a == "--volume"]
    # Only the scratch folder, IPC requests and the heartbeat are writable
    assert volumes[:5] == [f"{workspace.resolve()}:/workspace:rw", f"{ipc.resolve()}/requests:/ipc/requests:rw",
                           f"{ipc.resolve()}/responses:/ipc/responses:ro",
                           f"{ipc.resolve()}/heartbeat:/ipc/heartbeat:rw",
                           f"{(tmp_path / 'memory').resolve()}:/group/memory:ro"]
    assert volumes[5].endswith("claw/sandbox/guest:/opt/claw:ro")  # the helper, read-only
    assert len(volumes) == 6
    user = argv[argv.index("--user") + 1]
    assert not user.startswith("0:")  # never root in the container
    assert "ANTHROPIC" not in joined and "TOKEN" not in joined


def test_docker_plan_kills_the_container_on_timeout(tmp_path: Path) -> None:
    backend = DockerBackend(make_settings(tmp_path, sandbox="docker"), docker="/usr/bin/docker")
    plan = backend.plan(RunSpec(tmp_path, "bash", "true", default_limits(Settings())))
    name = plan.argv[plan.argv.index("--name") + 1]
    assert plan.kill_argv == ["/usr/bin/docker", "kill", name]
    assert set(plan.env) <= {"PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
                             "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"}


@pytest.fixture
def docker_engine(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client here")
    status = DockerBackend(make_settings(tmp_path, sandbox="docker")).status()
    if not status.available:
        pytest.skip(status.detail)


def test_docker_really_runs_without_network(tmp_path: Path, docker_engine: None) -> None:
    settings = make_settings(tmp_path, sandbox="docker", sandbox_wall_seconds=120)
    run_ = run_code(settings, Identity("http:team"), "python", """
import os, socket
print(os.getcwd(), os.getuid() != 0)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
except OSError as exc:
    print("TRIED network:", type(exc).__name__)
""", overrides={})
    assert run_.output.startswith("/workspace True"), run_.output
    assert "TRIED network: OSError" in run_.output


def test_execution_reports_a_missing_program(tmp_path: Path) -> None:
    from claw.sandbox.process import LaunchPlan

    with pytest.raises(SandboxUnavailable, match="could not start the sandbox"):
        Execution(LaunchPlan(argv=[str(tmp_path / "no-such-bwrap")], env={}), default_limits(Settings()))
    assert os.listdir(tmp_path) == []


def test_the_sandbox_never_runs_as_root_on_the_host(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only claw running as root drops to CLAW_SANDBOX_UID")
    ok, detail = describe(make_settings(tmp_path, sandbox_uid=0))
    assert not ok and "CLAW_SANDBOX_UID and CLAW_SANDBOX_GID must not be 0" in detail

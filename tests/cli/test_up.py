"""`claw up` as a person runs it: it says "claw is up" only when it is, tells how to reach a
stack in another home (and the CLI finds it from anywhere), refuses a taken port with one line,
and SIGTERM to `claw up | tee` leaves nothing running. One stack for the module."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from claw.bench.processes import free_port
from tests.support.redis_server import LocalRedis
from tests.support.stack import STARTUP_TIMEOUT, wait_until


def user_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """A user's environment: no CLAW_HOME, no token, the data folder of this test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_") and not k.startswith("ANTHROPIC_")}
    return {**env, "XDG_DATA_HOME": str(tmp_path / "data"), "CLAW_REDIS_URL": redis_url,
            "CLAW_LLM": "offline"}


@dataclass
class Pipeline:
    shell: subprocess.Popen[bytes]
    home: Path
    log: Path
    port: int
    env: dict[str, str]
    banner: str

    def claw_up(self) -> psutil.Process:
        for process in psutil.Process(self.shell.pid).children(recursive=True):
            if "claw.cli" in process.cmdline() and "up" in process.cmdline():
                return process
        raise AssertionError("no claw up in the pipeline")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[Pipeline]:
    """`claw up --home DIR | tee log`, in a process group of its own, as a shell runs it."""
    tmp = tmp_path_factory.mktemp("up")
    home, log, port = tmp / "stack-home", tmp / "tee.log", free_port()
    env = user_env(tmp, redis_server.url)
    (tmp / "cwd").mkdir()
    command = (f"{sys.executable} -m claw.cli up --home {home} --api-port {port} --shards 1 --no-flower"
               f" 2>&1 | tee {log} >/dev/null")
    shell = subprocess.Popen(["bash", "-c", command], env=env, cwd=tmp / "cwd", start_new_session=True)
    try:
        banner = wait_until(lambda: log.exists() and "claw is up" in log.read_text() and log.read_text(),
                            STARTUP_TIMEOUT, "claw is up")
        yield Pipeline(shell, home, log, port, env, banner)
    finally:
        if shell.poll() is None:
            for process in psutil.Process(shell.pid).children(recursive=True):
                process.kill()
            shell.kill()
        shell.wait()


def test_claw_is_up_only_once_healthz_passes_with_every_process(pipeline: Pipeline) -> None:
    # Read at once when the banner appeared: already healthy, workers and beat alive
    health = httpx.get(f"http://127.0.0.1:{pipeline.port}/healthz", timeout=5).json()

    assert health["status"] == "ok" and health["beat"] is True
    assert any(w.startswith("shard0@") for w in health["workers"])
    assert any(w.startswith("io@") for w in health["workers"])
    # the readiness polls are not logged
    assert "HTTP Request" not in pipeline.banner


def test_the_banner_says_how_to_reach_a_stack_in_another_home_and_the_cli_finds_it(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    assert re.search(rf"chat: +CLAW_HOME={re.escape(str(pipeline.home))} \S*claw chat", pipeline.banner)

    # A command run elsewhere without CLAW_HOME (or ports, or a token) reaches that stack
    sent = subprocess.run([sys.executable, "-m", "claw.cli", "send", "found", "hello", "--wait", "60"],
                          env=pipeline.env, cwd=tmp_path, capture_output=True, text=True, timeout=90)

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip().endswith("hello")
    assert list(tmp_path.iterdir()) == []


def test_a_taken_port_stops_claw_up_before_it_starts_anything(tmp_path: Path, redis_server: LocalRedis) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        up = subprocess.run(
            [sys.executable, "-m", "claw.cli", "up", "--home", str(tmp_path / "home"), "--api-port", str(port),
             "--no-flower"],
            env=user_env(tmp_path, redis_server.url), capture_output=True, text=True, timeout=60,
        )

    assert up.returncode == 1
    assert up.stderr.strip().splitlines()[-1].startswith(
        f"claw: port {port} on 127.0.0.1, for the HTTP API, is taken by ")
    assert "claw is up" not in up.stdout and "started" not in up.stderr


def test_sigterm_to_the_pipeline_stops_it_warm_and_leaves_nothing(pipeline: Pipeline) -> None:
    # Given everything `claw up` runs (last in the module: this stops the stack)
    up = pipeline.claw_up()
    tree = [up, *up.children(recursive=True)]
    assert len(tree) >= 4  # shard, io, beat, api

    # When the whole pipeline gets SIGTERM, tee with it
    os.killpg(pipeline.shell.pid, signal.SIGTERM)

    # Then claw up stops warm and every process it started is gone
    def gone(process: psutil.Process) -> bool:
        try:
            return process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(lambda: all(gone(p) for p in tree), 60, "the stack's processes to end")
    assert pipeline.shell.wait(timeout=10) is not None
    assert not (pipeline.home / "run.json").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{pipeline.port}/healthz", timeout=2)

"""The operator's faults: `claw up` SIGKILLed leaves nothing running, a second `claw up` on
the same home is refused, and workers never run code without isolation unless told to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from claw.bench.processes import free_port
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until


def _tree(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_sigkill_of_claw_up_leaves_no_orphans_and_the_home_is_reusable(
    tmp_path: Path, redis_server: LocalRedis
) -> None:
    # Given a running stack with its private Redis (no CLAW_REDIS_URL), so Redis is its child too
    stack = ClawStack(tmp_path / "claw", redis_server.url, shards=2, redis_port=free_port())
    stack.env.pop("CLAW_REDIS_URL")
    stack.start()
    assert stack.process is not None
    descendants = _tree(stack.process.pid)
    names = " ".join(" ".join(p.cmdline()) for p in descendants)
    assert "redis-server" in names and "shard1@" in names and "uvicorn" in names
    # And its private Redis, killed once, is restarted by claw up (its AOF keeps the queues)
    [redis_process] = [p for p in descendants if "redis-server" in " ".join(p.cmdline())]
    redis_process.kill()
    assert stack.post("after-redis", "hi", wait=60).json()["reply"]["text"] == "alice: hi"
    descendants = _tree(stack.process.pid)
    # When `claw up` itself is SIGKILLed (no warm shutdown can run)
    stack.process.kill()
    stack.process.wait()
    stack.process = None

    # Then every process it started dies with it: workers, pool children, beat, API, Redis
    def all_gone() -> bool:
        return not [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    wait_until(all_gone, 30, "the stack's processes to die with claw up")
    # And a new `claw up` on the same home starts (no stale lock, no busy port)
    stack.start()
    assert stack.post("again", "hello", wait=30).json()["reply"]["text"] == "alice: hello"
    stack.stop()


def test_a_second_claw_up_on_the_same_home_is_refused_naming_the_first(
    tmp_path: Path, redis_server: LocalRedis
) -> None:
    with ClawStack(tmp_path / "claw", redis_server.url, shards=1) as stack:
        assert stack.process is not None
        second = subprocess.run(
            [sys.executable, "-m", "claw.cli", "up", "--api-port", str(free_port()), "--no-flower"],
            env=stack.env, cwd=stack.home, capture_output=True, text=True, timeout=60,
        )
        assert second.returncode == 1
        assert f"claw is already running on {stack.home}" in second.stderr
        assert f"(pid {stack.process.pid})" in second.stderr
        # and the first stack is unharmed
        assert stack.post("first", "still here", wait=30).json()["reply"]["text"] == "alice: still here"


def test_without_an_isolating_sandbox_claw_up_and_shard_workers_refuse(
    tmp_path: Path, redis_server: LocalRedis
) -> None:
    # Given a host where neither bwrap nor docker can be found, and no CLAW_SANDBOX choice
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**os.environ, "PATH": str(bare), "CLAW_HOME": str(tmp_path / "home"),
           "CLAW_WORKSPACE": str(tmp_path / "ws"), "CLAW_REDIS_URL": redis_server.url,
           "CLAW_LLM": "offline", "CLAW_API_TOKEN": "t"}
    env.pop("CLAW_SANDBOX", None)
    # When `claw up` starts, it refuses before starting anything, and says what to do
    up = subprocess.run([sys.executable, "-m", "claw.cli", "up", "--no-flower",
                         "--api-port", str(free_port())],
                        env=env, capture_output=True, text=True, timeout=60)
    assert up.returncode == 1
    assert "no isolating sandbox works here" in up.stderr and "CLAW_SANDBOX=subprocess" in up.stderr
    # And a shard worker started by hand (as docker-compose does) refuses to start too
    worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "claw.celery_app", "worker", "-Q", "claw.shard.0",
         "-n", "shard0@test", "-c", "1", "-P", "solo", "--without-gossip", "--without-mingle"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert worker.returncode != 0
    assert "claw shard worker not started: no isolating sandbox works here" in worker.stdout + worker.stderr

"""The private redis-server that `claw up` starts when CLAW_REDIS_URL is not set."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

from claw.runtime.lifeline import die_with_parent


class RedisServerError(RuntimeError):
    pass


def redis_argv(home: Path, port: int) -> list[str]:
    """redis-server with AOF persistence and no eviction (DESIGN.md), data under ``home``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisServerError(
            "redis-server not found: install it (apt-get install redis-server) or set CLAW_REDIS_URL"
        )
    data = home / "redis"
    data.mkdir(parents=True, exist_ok=True)
    return [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data.resolve()),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction",
        "--save", "",
        "--daemonize", "no",
        "--logfile", str((data / "redis.log").resolve()),
    ]


def start_redis(
    home: Path, port: int, *, timeout: float = 10.0, tied_to_parent: bool = False
) -> subprocess.Popen[bytes]:
    """Start the private redis-server and wait until it answers.

    ``tied_to_parent``: the kernel stops it (SIGTERM: redis flushes its AOF) when the *thread*
    that started it ends, so only a process's main thread, as in `claw up`, should ask for it.
    """
    data = home / "redis"
    process = subprocess.Popen(
        redis_argv(home, port), start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM) if tied_to_parent else None,
    )
    import redis  # here: `claw up` (the supervisor) needs no Redis client after this

    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RedisServerError(f"redis-server exited at start; see {data / 'redis.log'}")
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RedisServerError(f"redis-server did not answer on port {port} within {timeout}s")


def stop_redis(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    process.terminate()  # SIGTERM: redis flushes its AOF and exits
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

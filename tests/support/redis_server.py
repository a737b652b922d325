"""A real redis-server on a free loopback port, which a test may stop and start again."""

from __future__ import annotations

import subprocess
from pathlib import Path

from claw.bench.processes import free_port
from claw.runtime.redis_server import start_redis, stop_redis


class LocalRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = start_redis(self.directory, self.port)

    def stop(self) -> None:
        if self.process is not None:
            stop_redis(self.process)
            self.process = None

"""claw's HTTP API alone, as `claw up` runs it (uvicorn, a process of its own), on a free port.

For tests of the API's edges (hostile input, the gate, the OpenAPI contract) that need no
workers: a real database and a real Redis behind it, and the server's log to read 500s from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from claw.bench.processes import free_port, stop_process, wait_for

TOKEN = "test-token-for-the-api"


class ApiServer:
    def __init__(self, home: Path, *, database_url: str, redis_url: str) -> None:
        self.home = home
        self.database_url = database_url
        self.redis_url = redis_url
        self.port = free_port()
        self.token = TOKEN
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "api.log"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.auth, timeout=30)

    def start(self, *, timeout: float = 60.0) -> ApiServer:
        from claw.db.migrate import upgrade

        upgrade(self.database_url)
        env = {**os.environ, "CLAW_HOME": str(self.home), "CLAW_DATABASE_URL": self.database_url,
               "CLAW_REDIS_URL": self.redis_url, "CLAW_API_TOKEN": self.token,
               "CLAW_WORKSPACE": str(self.home / "workspace"), "CLAW_LLM": "offline"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "claw.api.app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(self._healthy, timeout=timeout, what=f"the API on port {self.port} ({self.log_path})")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the API exited: {self.log_path.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            time.sleep(0.1)
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, name="api", grace=10)
            self.process = None

    def crashes(self) -> list[str]:
        """The server log's tracebacks: each is a request that got a 500."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.split("Traceback")[1:]

"""The claw side's stack: the real `claw up`, as a user runs it, in a throwaway home.

The environment is built from scratch for every CLAW_* setting so that a developer's own
``.env``, token or database URL can never leak into the measurement (cwd is the temp home, so
no ``.env`` is found there either).
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from claw.bench.errors import BenchError
from claw.bench.processes import free_port, log_tail, stop_process, wait_for

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 90.0
#: `claw up` stops warm; workers with nothing running exit in a few seconds
STOP_GRACE = 60.0


class BenchStack:
    """One `claw up` process tree: offline model, cooldown 0, no Flower."""

    def __init__(self, home: Path, redis_url: str, *, shards: int,
                 settings: dict[str, str] | None = None) -> None:
        """``settings``: more CLAW_* variables (a latency, a database URL), over the defaults."""
        self.home = home
        self.shards = shards
        self.api_port = free_port()
        self.token = secrets.token_urlsafe(24)
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.db_path = home / "claw.db"
        self.log_path = home / "claw-up.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
        inherited.pop("ANTHROPIC_API_KEY", None)
        self.env = {
            **inherited,
            "CLAW_HOME": str(home),
            "CLAW_WORKSPACE": str(home / "workspace"),
            "CLAW_REDIS_URL": redis_url,
            "CLAW_API_TOKEN": self.token,
            "CLAW_LLM": "offline",
            "CLAW_COOLDOWN": "0",
            "CLAW_OFFLINE_LATENCY_MS": "0",
            **(settings or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as logfile:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "claw.cli", "up", "--no-flower",
                 "--api-port", str(self.api_port), "--shards", str(self.shards)],
                env=self.env, stdout=logfile, stderr=subprocess.STDOUT, cwd=self.home,
                # our own session: Ctrl-C on the bench must not race our ordered shutdown
                start_new_session=True,
            )
        wait_for(self._healthy, timeout=STARTUP_TIMEOUT, what="`claw up` to become healthy", every=0.3)
        log.info("bench_claw_ready api=%s shards=%d", self.base_url, self.shards)

    def _healthy(self) -> dict[str, Any] | None:
        """Ready means what /healthz reports: every shard worker, the io worker and beat."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise BenchError(f"`claw up` exited early:\n{log_tail(self.log_path)}")
        try:
            body: dict[str, Any] = httpx.get(f"{self.base_url}/healthz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        workers = body.get("workers", [])
        shards = [w for w in workers if w.startswith("shard")]
        ready = (
            body.get("status") == "ok"
            and len(shards) == self.shards
            and body.get("beat")
            and any(w.startswith("io@") for w in workers)
        )
        return body if ready else None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, name="claw up", grace=STOP_GRACE)
            self.process = None

    def failure(self, what: str) -> BenchError:
        return BenchError(f"{what}\n--- claw up log ---\n{log_tail(self.log_path)}")

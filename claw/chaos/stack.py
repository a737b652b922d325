"""The stack under test: a private redis-server and the real `claw up`, in a throwaway home.

Redis runs here, outside `claw up` (which would not restart its own Redis after a kill): the
fault script kills it with SIGKILL and starts it again on the same port and files, with the
AOF on as `claw up` runs it (claw/runtime/redis_server.py). The model is the scripted fake
Anthropic API (ANTHROPIC_BASE_URL) and WhatsApp the fake bridge (CLAW_WHATSAPP_BRIDGE_URL).
As in `claw bench`, every CLAW_* setting is built from scratch so a developer's own `.env`,
token or database can never leak into the run.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import psutil

from claw.bench.errors import BenchError
from claw.bench.processes import free_port, log_tail, stop_process, wait_for
from claw.chaos.errors import ChaosError
from claw.runtime.redis_server import RedisServerError, start_redis, stop_redis

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 120.0
STOP_GRACE = 60.0
#: the model's per-request timeout in the stack; the fake hangs longer to provoke it
LLM_TIMEOUT_SECONDS = 2.0
FAKE_API_KEY = "sk-ant-chaos-not-a-real-key"


class ChaosStack:
    def __init__(self, home: Path, *, shards: int, model_url: str, bridge_url: str) -> None:
        self.home = home
        self.shards = shards
        self.redis_port = free_port()
        self.api_port = free_port()
        self.token = secrets.token_urlsafe(24)
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.log_path = home / "claw-up.log"
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("CLAW_", "ANTHROPIC_"))}
        self.env = {
            **inherited,
            "CLAW_HOME": str(home),
            "CLAW_WORKSPACE": str(home / "workspace"),
            "CLAW_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CLAW_API_TOKEN": self.token,
            "CLAW_LLM": "anthropic",
            "ANTHROPIC_API_KEY": FAKE_API_KEY,
            "ANTHROPIC_BASE_URL": model_url,
            # Shorter than the defaults so that a few minutes hold many fault-and-recovery
            # cycles; each is an ordinary setting a user may choose (README, Settings).
            "CLAW_LLM_TIMEOUT": str(LLM_TIMEOUT_SECONDS),
            "CLAW_LLM_RETRY_DELAY": "2",
            "CLAW_WHATSAPP_BRIDGE_URL": bridge_url,
            "CLAW_POLL_INTERVAL": "1",
            "CLAW_SWEEP_INTERVAL": "2",
            "CLAW_COOLDOWN": "0.5",
            # every chaos message must be answered: its chats are trusted groups of one sender
            "CLAW_PAIRING": "off",
            "CLAW_GROUP_RESPOND": "always",
        }
        self.redis: subprocess.Popen[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {self.token}"})

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.start_redis()
        with self.log_path.open("ab") as logfile:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "claw.cli", "up", "--no-flower",
                 "--api-port", str(self.api_port), "--shards", str(self.shards)],
                env=self.env, stdout=logfile, stderr=subprocess.STDOUT, cwd=self.home,
                start_new_session=True,  # Ctrl-C on `claw chaos` must not race our ordered stop
            )
        self.wait_healthy(STARTUP_TIMEOUT)
        log.info("chaos_stack_ready api=%s shards=%d", self.base_url, self.shards)

    def wait_healthy(self, timeout: float) -> None:
        try:
            wait_for(self._healthy, timeout=timeout, what="`claw up` to become healthy", every=0.5)
        except BenchError as exc:
            raise self.failure(str(exc)) from None

    def _healthy(self) -> dict[str, Any] | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise ChaosError(f"`claw up` exited early:\n{log_tail(self.log_path)}")
        try:
            body: dict[str, Any] = httpx.get(f"{self.base_url}/healthz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        workers = body.get("workers", [])
        ready = (body.get("status") == "ok" and body.get("beat")
                 and len([w for w in workers if w.startswith("shard")]) == self.shards
                 and any(w.startswith("io@") for w in workers))
        return body if ready else None

    def stop(self) -> None:
        self.http.close()
        if self.process is not None:
            stop_process(self.process, name="claw up", grace=STOP_GRACE)
            self.process = None
        if self.redis is not None:
            stop_redis(self.redis)
            self.redis = None

    def failure(self, what: str) -> ChaosError:
        return ChaosError(f"{what}\n--- claw up log ---\n{log_tail(self.log_path)}")

    # ---- Redis ----------------------------------------------------------------------------

    def start_redis(self) -> None:
        try:
            self.redis = start_redis(self.home, self.redis_port)
        except RedisServerError as exc:
            raise ChaosError(str(exc)) from None

    def kill_redis(self) -> int:
        """SIGKILL: no AOF flush, no goodbye to clients. Returns the pid killed."""
        assert self.redis is not None
        pid = self.redis.pid
        self.redis.kill()
        self.redis.wait()
        self.redis = None
        return pid

    # ---- the process tree of `claw up` ----------------------------------------------------
    # `claw up` -> the fork server -> each shard worker, the io worker, beat, the API, Flower
    # (claw/runtime/forkserver.py); a process is known by its title (setproctitle: Celery's
    # "[celeryd: shard0@host:MainProcess] ...", or the fork server's "claw shard0: celery ...")

    def _descendants(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    @staticmethod
    def _argv(process: psutil.Process) -> list[str]:
        try:
            return process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return []

    def worker_main(self, shard: int) -> psutil.Process | None:
        """A shard's Celery worker, found by its node name (``shard0@host``): the topmost
        process that carries it (a prefork pool process below it carries it too)."""
        node = f"shard{shard}@"
        for process in self._descendants():
            if node in " ".join(self._argv(process)):
                try:
                    parent = process.parent()
                except psutil.NoSuchProcess:
                    continue
                if parent is None or node not in " ".join(self._argv(parent)):
                    return process
        return None

    def pool_child(self, shard: int) -> psutil.Process | None:
        """The process that runs the shard's turns: the worker itself, as `claw up` runs shard
        workers (one process, claw/runtime/solo_pool.py), or its prefork pool process where a
        worker has one."""
        main = self.worker_main(shard)
        try:
            children = main.children(recursive=False) if main else []
        except psutil.NoSuchProcess:
            return None
        return children[0] if children else main

    def beat(self) -> psutil.Process | None:
        for process in self._descendants():
            # Celery retitles the process ("[celery beat] ..."): one argv element, not several
            words = " ".join(self._argv(process)).split()
            if "beat" in words and any("celery" in word for word in words):
                return process
        return None

    # ---- reading the results ----------------------------------------------------------------

    def sql(self, query: str, *params: Any) -> list[sqlite3.Row]:
        """The stack's own SQLite database, read directly (the API does not show everything)."""
        with closing(sqlite3.connect(self.home / "claw.db", timeout=30)) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute(query, params))

    @property
    def workspace(self) -> Path:
        return self.home / "workspace"

"""The real claw stack for end-to-end tests: `claw up` as a subprocess, driven over HTTP."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from claw.bench.processes import free_port

STARTUP_TIMEOUT = 90.0


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class ClawStack:
    """One `claw up` process tree with its own home, database and (given) Redis.

    The database is SQLite in ``home`` unless ``database_url`` names another (PostgreSQL).
    """

    def __init__(
        self,
        home: Path,
        redis_url: str,
        *,
        shards: int = 3,
        database_url: str | None = None,
        extra_env: dict[str, str] | None = None,
        shard_workers: int | None = None,
        flower: bool = False,
        **settings: object,
    ) -> None:
        """``shard_workers``: how many shard workers /healthz must list before the stack counts
        as up (default ``shards``; more when other hosts share the Redis)."""
        self.home = home
        #: Flower's port, when `claw up` is to start it (off by default: it costs a process)
        self.flower_port = free_port() if flower else None
        self.shards = shards
        self.shard_workers = shard_workers or shards
        self.database_url = database_url
        # no pool: between queries nothing of the test stays connected to the stack's database
        self._engine = create_engine(database_url, poolclass=NullPool) if database_url else None
        self.api_port = free_port()
        self.token = "test-token-" + os.urandom(8).hex()
        self.env = {
            **os.environ,
            "CLAW_HOME": str(home),
            "CLAW_WORKSPACE": str(home / "workspace"),
            "CLAW_REDIS_URL": redis_url,
            "CLAW_API_TOKEN": self.token,
            "CLAW_LLM": "offline",
            "CLAW_SWEEP_INTERVAL": "1",
            **({"CLAW_FLOWER_PORT": str(self.flower_port)} if flower else {}),
            **{f"CLAW_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.env.pop("CLAW_DATABASE_URL", None)
        if database_url is not None:
            self.env["CLAW_DATABASE_URL"] = database_url
        self.env.pop("ANTHROPIC_API_KEY", None)
        self.env.pop("ANTHROPIC_BASE_URL", None)
        self.env.update(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "claw-up.log"
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.api_port}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )

    # ---- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> ClawStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> ClawStack:
        self.home.mkdir(parents=True, exist_ok=True)
        ups_before = self._ups()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "claw.cli", "up", "--api-port", str(self.api_port),
             "--shards", str(self.shards), *([] if self.flower_port else ["--no-flower"])],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home,
        )
        self.wait_healthy()
        # and `claw up` has said so: until then it watches the start and stops everything if a
        # process exits (a test that kills one right after /healthz would stop the stack)
        wait_until(lambda: self._ups() > ups_before, STARTUP_TIMEOUT, "claw up to say it is up", every=0.2)
        return self

    def _ups(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count("claw is up")
        except FileNotFoundError:
            return 0

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> dict[str, Any]:
        def healthy() -> dict[str, Any] | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"claw up exited early:\n{self.log_tail()}")
            try:
                body = httpx.get(f"http://127.0.0.1:{self.api_port}/healthz", timeout=2).json()
            except httpx.HTTPError:
                return None
            shards = [w for w in body.get("workers", []) if w.startswith("shard")]
            ready = body.get("status") == "ok" and len(shards) == self.shard_workers and body["beat"]
            return body if ready and any(w.startswith("io@") for w in body["workers"]) else None

        return wait_until(healthy, timeout, "the stack to become healthy", every=0.3)

    def stop(self, timeout: float = 60) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def log_tail(self, lines: int = 60) -> str:
        """The end of `claw up`'s console, then of each process's log file ($CLAW_HOME/logs)."""
        parts = []
        for path in [self.log_path, *sorted((self.home / "logs").glob("*.log"))]:
            try:
                text = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            except FileNotFoundError:
                continue
            parts.append(text if path == self.log_path else f"--- {path.name} ---\n{text}")
        return "\n".join(parts) or "(no log)"

    # ---- driving it -----------------------------------------------------------------------

    def post(self, chat_id: str, text: str, *, sender: str = "alice", wait: float = 0,
             external_id: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"chat_id": chat_id, "text": text, "sender": sender}
        if external_id is not None:
            body["external_id"] = external_id
        return self.http.post("/v1/messages", params={"wait": wait}, json=body)

    def messages(self, group_id: str) -> list[dict[str, Any]]:
        collected: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.http.get(f"/v1/groups/{group_id}/messages",
                                 params={"after_id": after, "limit": 500})
            page.raise_for_status()
            rows = page.json()["messages"]
            if not rows:
                return collected
            collected.extend(rows)
            after = rows[-1]["id"]

    def replies(self, group_id: str) -> list[str]:
        return [m["text"] for m in self.messages(group_id) if m["role"] == "assistant"]

    def wait_answered(self, group_id: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until ``count`` user messages of the group are answered and the replies sent."""

        def done() -> list[dict[str, Any]] | None:
            rows = self.sql(
                "SELECT COUNT(*) AS n FROM messages m JOIN outbox o ON o.id = m.answered_by "
                "WHERE m.group_id = ? AND o.status = 'sent'", group_id)
            return self.messages(group_id) if rows[0]["n"] >= count else None

        return wait_until(done, timeout, f"{count} answered messages in {group_id}", every=0.2)

    def sql(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Read the stack's real database directly, for what the API does not show.

        ``?`` marks a parameter on either database. SQLite gives timestamps as text,
        PostgreSQL as datetimes.
        """
        if self._engine is not None:
            return self._sql_by_url(query, params)
        with sqlite3.connect(self.home / "claw.db", timeout=30) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(query, params)]

    def _sql_by_url(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        assert self._engine is not None
        pieces = query.split("?")
        named = pieces[0] + "".join(f":p{i}{piece}" for i, piece in enumerate(pieces[1:]))
        with self._engine.connect() as db:
            rows = db.execute(text(named), {f"p{i}": value for i, value in enumerate(params)})
            return [dict(row._mapping) for row in rows]

    # ---- process tree ---------------------------------------------------------------------

    def assigned_shard(self, group_id: str) -> int | None:
        """The shard the group's work is assigned to now (claw.pipeline.routing), if any."""
        from claw.pipeline.routing import assigned_shard

        client = redis.Redis.from_url(self.env["CLAW_REDIS_URL"])
        try:
            return assigned_shard(client, group_id)
        finally:
            client.close()

    def worker_process(self, shard: int) -> psutil.Process:
        """A shard's Celery worker (found by its node name in its title), below the fork server:
        the process that runs the shard's turns (claw/runtime/solo_pool.py)."""
        assert self.process is not None
        node = f"shard{shard}@"
        for process in psutil.Process(self.process.pid).children(recursive=True):
            if node in " ".join(process.cmdline()) and node not in " ".join(process.parent().cmdline()):
                return process
        raise AssertionError(f"no worker process for shard {shard}")

    def forkserver_process(self) -> psutil.Process:
        """The fork server: it forks (and re-forks) every process of the stack but Redis."""
        assert self.process is not None
        for child in psutil.Process(self.process.pid).children(recursive=False):
            if "claw.runtime.forkserver" in child.cmdline():
                return child
        raise AssertionError("no fork server under claw up")

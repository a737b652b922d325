"""A private, real PostgreSQL server for the tests and `claw bench scale`: initdb into a
temporary directory, then ``postgres`` on a free loopback port, with its sockets there.

PostgreSQL refuses to run as root, and CI runs the tests as root: the server then runs as the
``postgres`` system user that Debian's package creates (``nobody`` where it is missing), and
its directory is made in /tmp and owned by that user, because pytest's own temporary
directories are private to the user running the tests.

    server = LocalPostgres()
    server.start()
    url = server.create_database("t1")  # postgresql+psycopg://claw@127.0.0.1:PORT/t1
    server.drop_database("t1")
    server.stop()
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from claw.bench.processes import free_port

#: the superuser initdb creates; every database of the server belongs to it
USER = "claw"
#: who runs the server when the tests run as root
SERVICE_USERS = ("postgres", "nobody")
#: the server's default session time zone (UTC+13/+12, so a wrong offset cannot go unnoticed)
SERVER_TIMEZONE = "Pacific/Auckland"


class PostgresNotInstalled(RuntimeError):
    pass


def find_bin_dir() -> Path | None:
    """Where initdb and postgres are: Debian keeps them off PATH, in
    /usr/lib/postgresql/<version>/bin (the newest version wins); else wherever PATH has them."""
    def version(bin_dir: Path) -> int:
        return int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0

    installed = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if installed:
        return max(installed, key=version)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class LocalPostgres:
    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.port = free_port()
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}

    @property
    def log_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def _dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={database} connect_timeout=5"

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> LocalPostgres:
        if self.bin_dir is None:
            raise PostgresNotInstalled(
                "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH):"
                " run scripts/install-system-deps.sh, or apt-get install postgresql"
            )
        self.directory = Path(tempfile.mkdtemp(prefix="claw-postgres-"))
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        assert self.directory is not None
        if os.geteuid() == 0:
            self._run_as = self._service_user()
            os.chown(self.directory, self._run_as["user"], self._run_as["group"])
        data = self.directory / "data"
        self._run([str(self.bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                   "--encoding=UTF8", "--no-locale", "--no-sync"])
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-k", str(self.directory), "-c", "listen_addresses=127.0.0.1",
                 "-c", "max_connections=300",
                 # not UTC on purpose: claw must not depend on the server's time zone
                 "-c", f"timezone={SERVER_TIMEZONE}",
                 # a throwaway server: durability buys nothing and costs every commit a sync
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, start_new_session=True,
                **self._run_as,
            )
        self._wait_ready(timeout)

    def stop(self, *, timeout: float = 20.0) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _service_user(self) -> dict[str, Any]:
        for name in SERVICE_USERS:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        raise PostgresNotInstalled(
            f"PostgreSQL cannot run as root and none of the users {SERVICE_USERS} exists"
        )

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, cwd=self.directory, **self._run_as)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n"
                               f"{done.stdout.decode(errors='replace')}{done.stderr.decode(errors='replace')}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{self.log_tail()}")
            try:
                psycopg.connect(self._dsn(), connect_timeout=1).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.process.kill()
                    raise RuntimeError(
                        f"postgres did not answer within {timeout}s:\n{self.log_tail()}") from exc
                time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (FileNotFoundError, AssertionError):
            return "(no log)"

    # ---- databases ------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        with psycopg.connect(self._dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        with psycopg.connect(self._dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

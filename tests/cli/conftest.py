"""The `claw` command driven in-process (Typer's CliRunner) against a real API: uvicorn on a
real SQLite database and Redis, as `claw up` runs it, without workers (no command here needs
a turn to run)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from claw.cli import cli
from tests.support.api_server import ApiServer
from tests.support.databases import _clear_caches
from tests.support.redis_server import LocalRedis


@dataclass
class Result:
    code: int
    out: str
    err: str


Claw = Callable[..., Result]


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One API (and its Redis) for every CLI module: each test works in groups of its own."""
    redis_server = LocalRedis(tmp_path_factory.mktemp("cli-redis"))
    redis_server.start()
    home = tmp_path_factory.mktemp("cli-api")
    server = ApiServer(home, database_url=f"sqlite:///{home / 'claw.db'}", redis_url=redis_server.url)
    try:
        yield server.start()
    finally:
        server.stop()
        redis_server.stop()


@pytest.fixture
def api(api_server: ApiServer) -> Iterator[httpx.Client]:
    with api_server.client() as client:
        yield client


def invoke(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def claw(api_server: ApiServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Claw]:
    """Run `claw ARGS…` as a user next to the API's stack would, from an empty folder."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "CLAW_HOME": str(api_server.home), "CLAW_WORKSPACE": str(api_server.home / "workspace"),
        "CLAW_DATABASE_URL": api_server.database_url, "CLAW_REDIS_URL": api_server.redis_url,
        "CLAW_API_PORT": str(api_server.port), "CLAW_API_TOKEN": api_server.token, "CLAW_LLM": "offline",
    }.items():
        monkeypatch.setenv(name, value)
    _clear_caches()
    yield invoke
    _clear_caches()


def one_line(text: str) -> str:
    """The text, which must be exactly one line: what every CLI error is."""
    lines = text.strip("\n").splitlines()
    assert len(lines) == 1, f"not one line: {text!r}"
    assert "Traceback" not in text
    return lines[0]

"""Fixtures that start real infrastructure: redis-server, the claw stack, a fake bridge."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import LocalRedis


def pytest_configure(config: pytest.Config) -> None:
    if shutil.which("redis-server") is None:
        raise pytest.UsageError("redis-server is missing: run the tests through `make test`")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite database for tests of plain functions."""
    from claw.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'claw.db'}"
    upgrade(url)
    return url

"""The HTTP API alone (uvicorn, as `claw up` runs it) on SQLite and on PostgreSQL, with real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.postgres_server import LocalPostgres
from tests.support.redis_server import LocalRedis


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis
) -> Iterator[ApiServer]:
    home = tmp_path_factory.mktemp("api")
    postgres: LocalPostgres | None = None
    name = f"api_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'claw.db'}"
    else:
        postgres = request.getfixturevalue("postgres_server")
        url = postgres.create_database(name)
    server = ApiServer(home, database_url=url, redis_url=redis_server.url).start()
    try:
        yield server
    finally:
        server.stop()
        if postgres is not None:
            from claw.db.session import get_engine

            get_engine(url).dispose()
            postgres.drop_database(name)


@pytest.fixture
def api(api_server: ApiServer) -> Iterator[httpx.Client]:
    """A client with the token; after the test, the server must not have crashed."""
    before = len(api_server.crashes())
    with api_server.client() as client:
        yield client
    crashes = api_server.crashes()[before:]
    assert crashes == [], f"the API answered with a 500: Traceback{crashes[0][-3000:]}"

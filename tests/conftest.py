"""Fixtures that start real infrastructure: redis-server, the claw stack, a fake bridge."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres_server import LocalPostgres
from tests.support.redis_server import LocalRedis

# Suites written before pairing and "answer when addressed" drive chats that claw has never
# seen and groups that do not mention it; they keep the old behaviour. tests/e2e/test_addressed.py
# and the unit tests of claw.pipeline.addressing/pairing set these themselves.
os.environ.setdefault("CLAW_PAIRING", "off")
os.environ.setdefault("CLAW_GROUP_RESPOND", "always")


def pytest_configure(config: pytest.Config) -> None:
    if shutil.which("redis-server") is None:
        raise pytest.UsageError("redis-server is missing: run the tests through `make test`")
    # claw's default home is the user's data folder (claw.config.default_home): a test that
    # sets no CLAW_HOME writes in a folder of this run, never in the real one
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="claw-test-data-")


@pytest.fixture(scope="session", autouse=True)
def group_quota_images_unmounted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runs as root loop-mount each group's quota image (claw/sandbox/quota.py) under the
    test's folders: unmount them all at the end, so no mount outlives the run."""
    yield
    from claw.sandbox.quota import release_under

    release_under(tmp_path_factory.getbasetemp())


@pytest.fixture
def empty_cwd(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test runs in an empty folder of its own, which must still be empty when it ends. For
    code that must only ever touch paths through directory descriptors (claw.safe_fs,
    claw.sandbox.layout): a path taken relative to the cwd by mistake lands here and fails the
    test, instead of writing, moving or deleting in whatever folder pytest was started from
    (under `make mutate`, mutmut's copy of the project)."""
    cwd = tmp_path_factory.mktemp("cwd")  # beside tmp_path: tests list what is in theirs
    monkeypatch.chdir(cwd)
    yield cwd
    assert sorted(p.name for p in cwd.iterdir()) == [], "written relative to the cwd"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A private PostgreSQL server for the whole run; skipped where PostgreSQL is not
    installed, but a failure in CI, which must test both databases."""
    server = LocalPostgres()
    if server.bin_dir is None:
        message = ("PostgreSQL is not installed (initdb not found): run scripts/install-system-deps.sh"
                   " or apt-get install postgresql")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for tests of plain functions: each such test runs on SQLite
    and on PostgreSQL (a new database of the session's server)."""
    from claw.db.migrate import upgrade
    from claw.db.session import get_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'claw.db'}"
        upgrade(url)
        yield url
        return
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name)
    upgrade(url)
    yield url
    get_engine(url).dispose()
    server.drop_database(name)

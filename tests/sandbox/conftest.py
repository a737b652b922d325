"""Fixtures for the sandbox: real bwrap, a workspace with groups, a database for IPC actions.

Escape tests need a working bubblewrap: they are skipped (with the probe's reason) where it
cannot run, and fail in CI, which must prove the sandbox holds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from claw.config import Settings
from claw.db import Group, write_session
from claw.pipeline.inbox import ensure_group
from claw.sandbox import backend_status
from claw.sandbox.ipc import RATE_LIMITER
from claw.sandbox.quota import release_under
from tests.support.databases import as_default_database
from tests.support.sandbox import make_settings


@pytest.fixture(scope="session")
def bwrap_works(tmp_path_factory: pytest.TempPathFactory) -> None:
    status = backend_status("bwrap", make_settings(tmp_path_factory.mktemp("probe")))
    if not status.available:
        message = f"bubblewrap cannot run here: {status.detail}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def settings(tmp_path: Path, bwrap_works: None) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(autouse=True)
def quota_images_unmounted(tmp_path: Path) -> Iterator[None]:
    """Each test's group images (loop mounts, as root) are unmounted when it ends."""
    yield
    release_under(tmp_path)


@pytest.fixture
def default_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite database that claw's default sessions (IPC actions, delivery) use,
    with groups http:team, http:other and a main group http:main."""
    from claw.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'claw.db'}"
    upgrade(url)
    with as_default_database(url, monkeypatch):
        with write_session() as session:
            for chat in ("team", "other", "main"):
                ensure_group(session, "http", chat)
            session.get_one(Group, "http:main").is_main = True
        yield url


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    RATE_LIMITER.reset()
    yield
    RATE_LIMITER.reset()


@pytest.fixture(autouse=True)
def ipc_decisions_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="claw.sandbox")

"""Making a test's database the one claw's code uses when it is given no URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from claw.config import get_settings
from claw.db import session as db_session


def _clear_caches() -> None:
    get_settings.cache_clear()
    db_session.get_engine.cache_clear()
    db_session._sessionmaker.cache_clear()


@contextmanager
def as_default_database(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point CLAW_DATABASE_URL (and the cached settings and engines) at ``url`` for a block."""
    monkeypatch.setenv("CLAW_DATABASE_URL", url)
    _clear_caches()
    try:
        yield url
    finally:
        db_session.get_engine().dispose()
        _clear_caches()  # the next get_settings() reads the environment monkeypatch restores

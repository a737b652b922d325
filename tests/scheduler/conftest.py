"""Fixtures for the scheduler: a migrated SQLite database with groups in it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from claw.db import write_session
from claw.pipeline.inbox import ensure_group

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)  #: a Monday, 09:00 in Berlin


@pytest.fixture
def db(db_url: str) -> str:
    """The test database with two groups, http:team and http:other."""
    with write_session(db_url) as session:
        ensure_group(session, "http", "team")
        ensure_group(session, "http", "other")
    return db_url

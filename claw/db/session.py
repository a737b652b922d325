"""Engines and sessions, with SQLite tuned for several processes writing at once.

SQLite trap: a deferred transaction that reads and then writes fails with SQLITE_BUSY at once
(busy_timeout does not apply) if another process committed in between. Write sessions therefore
start with ``BEGIN IMMEDIATE``, which waits for the write lock up front; read sessions stay
deferred so readers never block writers in WAL mode.

PostgreSQL trap: a ``timestamptz`` comes back in the session's TimeZone, which is the server's
setting unless the client says otherwise. claw stores and compares UTC only, so PostgreSQL
sessions are opened in UTC whatever the server is configured with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from claw.config import get_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        if conn.get_execution_options().get("claw_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().resolved_database_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, connect_args=_session_options(url))
    return engine


def _session_options(url: str) -> dict[str, str]:
    """libpq drivers (psycopg, psycopg2) take session settings at connect: no extra round trip."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in ("psycopg", "psycopg2"):
        return {}
    options = str(parsed.query.get("options") or "")
    return {"options": f"{options} -c timezone=UTC".strip()}


@lru_cache(maxsize=4)
def _sessionmaker(url: str | None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def write_session(url: str | None = None) -> Iterator[Session]:
    """A session whose transaction is committed on success and rolled back on error."""
    with _sessionmaker(url)() as session, session.begin():
        yield session


@contextmanager
def read_session(url: str | None = None) -> Iterator[Session]:
    """A session for reads only; on SQLite it never takes the write lock."""
    engine = get_engine(url)
    with Session(engine.execution_options(claw_readonly=True), expire_on_commit=False) as s:
        yield s

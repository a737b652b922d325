"""Alembic environment: runs migrations on the engine claw itself would use.

On SQLite a migration that alters a table rebuilds it (copy, drop, rename); with foreign keys
on, dropping a table that other rows reference fails (and deferring them does not help: SQLite
counts violations, and a rename resolves none). So foreign keys are off while migrations run,
set outside any transaction (inside one the pragma is ignored), and checked before they are on
again.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection

from claw.db.models import Base
from claw.db.session import get_engine

config = context.config


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection  # autocommit (claw emits BEGIN itself)
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def run_migrations_online() -> None:
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection, _sqlite_foreign_keys_off(connection):
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()

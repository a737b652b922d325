"""The private PostgreSQL server of the tests lives in claw.bench.postgres (`claw bench scale`
starts one too); re-exported here for the tests."""

from claw.bench.postgres import (
    SERVER_TIMEZONE,
    USER,
    LocalPostgres,
    PostgresNotInstalled,
    find_bin_dir,
)

__all__ = ["SERVER_TIMEZONE", "USER", "LocalPostgres", "PostgresNotInstalled", "find_bin_dir"]

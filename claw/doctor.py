"""`claw doctor`: check everything a running claw needs and say plainly what is wrong."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from claw.config import Settings


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database(settings: Settings) -> Check:
    from sqlalchemy.engine import make_url

    from claw.db import read_session

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # connecting would create an empty file: a check leaves no trace
        return Check("database", False, f"no database at {url.database}; run `claw up` or `claw migrate`")
    try:
        with read_session() as session:
            version = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return Check("database", True, f"{redacted(settings.resolved_database_url)} (schema {version})")
    except Exception as exc:
        return Check("database", False, f"cannot use the database: {type(exc).__name__}; run `claw up` or `claw migrate`")


def _redis(settings: Settings) -> Check:
    from claw.redis_client import get_redis

    try:
        get_redis().ping()
        return Check("redis", True, redacted(settings.resolved_redis_url))
    except Exception as exc:
        return Check("redis", False, f"no Redis at {redacted(settings.resolved_redis_url)} ({type(exc).__name__}); is `claw up` running?")


def _workers(settings: Settings) -> Check:
    from claw.health import alive_workers
    from claw.redis_client import get_redis

    try:
        workers = alive_workers(get_redis())
    except Exception:
        return Check("workers", False, "unknown: Redis is unreachable")
    shards = [w for w in workers if w.startswith("shard")]
    ok = len(shards) >= settings.shards and any(w.startswith("io@") for w in workers)
    detail = ", ".join(workers) or "none alive"
    if not ok:
        detail += f" (want {settings.shards} shard workers and an io worker)"
    return Check("workers", ok, detail)


def _beat(_: Settings) -> Check:
    from claw.health import beat_alive
    from claw.redis_client import get_redis

    try:
        alive = beat_alive(get_redis())
    except Exception:
        return Check("beat", False, "unknown: Redis is unreachable")
    return Check("beat", alive, "alive" if alive else "no heartbeat from celery beat")


def _workspace(settings: Settings) -> Check:
    if not settings.workspace.is_dir():  # not made here: a check leaves no trace
        return Check("workspace", False, f"{settings.workspace} does not exist; `claw up` makes it")
    try:
        with tempfile.NamedTemporaryFile(dir=settings.workspace):
            pass
        return Check("workspace", True, f"{settings.workspace.resolve()} is writable")
    except OSError as exc:
        return Check("workspace", False, f"{settings.workspace} is not writable: {exc.strerror}")


def _llm(settings: Settings) -> Check:
    llm = settings.resolved_llm
    if llm == "offline":
        return Check("llm", True, "offline model (set ANTHROPIC_API_KEY to use Claude)")
    if llm == "anthropic" and not settings.anthropic_api_key:
        return Check("llm", False, "CLAW_LLM=anthropic but ANTHROPIC_API_KEY is not set")
    return Check("llm", True, f"{llm}, model {settings.model} (key present)")


def _sandbox(settings: Settings) -> Check:
    from claw.sandbox import describe

    ok, detail = describe(settings)
    return Check("sandbox", ok, detail)


def _telegram(settings: Settings) -> Check:
    token = settings.telegram_bot_token
    if not (token and token.get_secret_value().strip()):
        return Check("telegram", True, "not configured (set CLAW_TELEGRAM_BOT_TOKEN to use it)")
    chats = len(settings.telegram_allowed_chats)
    return Check("telegram", True, f"configured: {settings.telegram_api_url}, "
                 + (f"{chats} allowed chats" if chats else "every chat allowed"))


def redacted(url: str) -> str:
    """Hide a password in a connection URL: secrets never reach the terminal or logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


CHECKS: list[Callable[[Settings], Check]] = [
    _database, _redis, _workers, _beat, _workspace, _llm, _sandbox, _telegram,
]


#: the checks of a running stack's processes: without a stack in this home there is none of
#: its own to check, and the Redis on the default port may well be another home's stack
STACK_CHECKS = ("redis", "workers", "beat")


def no_stack(settings: Settings) -> str:
    """What to tell a user whose home has no running stack (no live run.json)."""
    return (f"no claw stack is running in {settings.home} (no run.json): `claw up` starts one, "
            "or set CLAW_HOME to the home of a running stack")


def run_checks(settings: Settings, stack_running: bool = True) -> list[Check]:
    """Every check; with no stack running in this home, Redis, workers and beat are marked as
    not checked rather than read from whatever Redis answers on the default port."""
    return [check(settings) if stack_running or _name(check) not in STACK_CHECKS
            else Check(_name(check), False, "not checked: no stack is running in this home")
            for check in CHECKS]


def _name(check: Callable[[Settings], Check]) -> str:
    return check.__name__.lstrip("_")

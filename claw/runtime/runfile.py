"""$CLAW_HOME/run.json: what a running `claw up` chose (ports, shards, Redis URL, workspace,
database), so that `claw chat`, `claw send`, `claw doctor` and the rest find the stack without
repeating its options.

A stack started with ``--home DIR`` elsewhere than the default home also leaves a pointer,
``latest-stack`` in the default home: a command run without CLAW_HOME, where the default home
has no stack running, follows it to DIR (the banner of `claw up` prints the CLAW_HOME to set
as well, for when several run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil

from claw.config import Settings, default_home

RUNFILE = "run.json"
POINTER = "latest-stack"
#: the settings a client takes over from the running stack, unless set in its own environment
SHARED = {"api_host": "CLAW_API_HOST", "api_port": "CLAW_API_PORT", "shards": "CLAW_SHARDS",
          "redis_url": "CLAW_REDIS_URL", "flower_port": "CLAW_FLOWER_PORT",
          "workspace": "CLAW_WORKSPACE", "database_url": "CLAW_DATABASE_URL"}


def write_runfile(settings: Settings) -> Path:
    home = settings.home.resolve()
    path = home / RUNFILE
    values = {
        "api_host": settings.api_host,
        "api_port": settings.api_port,
        "shards": settings.shards,
        "redis_url": settings.resolved_redis_url,
        "flower_port": settings.flower_port,
        "workspace": str(settings.workspace.resolve()),
        "database_url": settings.resolved_database_url,
        "pid": os.getpid(),
    }
    # private: the database URL may hold a password, as the token beside it is secret
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(values, indent=2) + "\n")
    if home != default_home().resolve():
        pointer = default_home() / POINTER
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(str(home) + "\n")
    return path


def _running(home: Path) -> dict[str, object] | None:
    """The run.json of a stack that is still running in ``home``."""
    try:
        values = json.loads((home / RUNFILE).read_text())
    except (OSError, ValueError):
        return None
    pid = values.get("pid") if isinstance(values, dict) else None
    return values if isinstance(pid, int) and psutil.pid_exists(pid) else None


def find_stack(home: Path) -> Path | None:
    """The home of the stack a command should use: ``home`` when a stack runs there; else,
    when CLAW_HOME was not set, the one the latest `claw up --home` pointed to."""
    if _running(home) is not None:
        return home
    if "CLAW_HOME" in os.environ:
        return None
    try:
        pointed = Path((default_home() / POINTER).read_text().strip())
    except OSError:
        return None
    return pointed if _running(pointed) is not None else None


def adopt_runfile(home: Path) -> None:
    """Export the running stack's choices as CLAW_* defaults for this process."""
    found = find_stack(home)
    if found is None:
        return
    values = _running(found) or {}
    if found != home:
        os.environ["CLAW_HOME"] = str(found)
    for key, env_name in SHARED.items():
        if key in values and env_name not in os.environ:
            os.environ[env_name] = str(values[key])


def remove_runfile(settings: Settings) -> None:
    home = settings.home.resolve()
    (home / RUNFILE).unlink(missing_ok=True)
    pointer = default_home() / POINTER
    try:
        if Path(pointer.read_text().strip()) == home:
            pointer.unlink()
    except OSError:
        pass

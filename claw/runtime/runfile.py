"""$CLAW_HOME/run.json: what a running `claw up` chose (ports, shards, Redis URL, workspace,
database), so that `claw chat`, `claw send`, `claw doctor` and the rest find the stack without
repeating its options.

A stack started with ``--home DIR`` elsewhere than the default home also leaves a pointer,
``latest-stack`` in the default home (one home a line, the latest last): a command run
without CLAW_HOME, where the default home has no stack running, follows it to the latest DIR
whose stack still runs, so stopping one `--home` stack leaves the others found (the banner of
`claw up` prints the CLAW_HOME to set as well, for when several run).
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
        _write_pointed([h for h in _pointed() if h != home and _running(h) is not None] + [home])
    return path


def _pointed() -> list[Path]:
    """The homes ``latest-stack`` lists, the latest last."""
    try:
        lines = (default_home() / POINTER).read_text().splitlines()
    except OSError:
        return []
    return [Path(line.strip()) for line in lines if line.strip()]


def _write_pointed(homes: list[Path]) -> None:
    pointer = default_home() / POINTER
    if not homes:
        pointer.unlink(missing_ok=True)
        return
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_name(f"{POINTER}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{h}\n" for h in homes))
    tmp.replace(pointer)


def _running(home: Path) -> dict[str, object] | None:
    """The run.json of a stack that is still running in ``home``."""
    try:
        written = (home / RUNFILE).stat().st_mtime
        values = json.loads((home / RUNFILE).read_text())
    except (OSError, ValueError):
        return None
    pid = values.get("pid") if isinstance(values, dict) else None
    if not isinstance(pid, int):
        return None
    try:
        started = psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None
    # a process started after run.json was written only reuses the dead stack's pid
    return values if started <= written + 1 else None


def find_stack(home: Path) -> Path | None:
    """The home of the stack a command should use: ``home`` when a stack runs there; else,
    when CLAW_HOME was not set, the one the latest `claw up --home` pointed to."""
    if _running(home) is not None:
        return home
    if "CLAW_HOME" in os.environ:
        return None
    return next((h for h in reversed(_pointed()) if _running(h) is not None), None)


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
    pointed = _pointed()
    if home in pointed:
        try:
            _write_pointed([h for h in pointed if h != home and _running(h) is not None])
        except OSError:
            pass

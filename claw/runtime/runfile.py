"""$CLAW_HOME/run.json: what a running `claw up` chose (ports, shards, Redis URL), so that
`claw chat`, `claw send` and `claw doctor` find the stack without repeating its options."""

from __future__ import annotations

import json
import os
from pathlib import Path

from claw.config import Settings

RUNFILE = "run.json"
#: the settings a client takes over from the running stack, unless set in its own environment
SHARED = {"api_host": "CLAW_API_HOST", "api_port": "CLAW_API_PORT", "shards": "CLAW_SHARDS",
          "redis_url": "CLAW_REDIS_URL", "flower_port": "CLAW_FLOWER_PORT"}


def write_runfile(settings: Settings) -> Path:
    path = settings.home / RUNFILE
    values = {
        "api_host": settings.api_host,
        "api_port": settings.api_port,
        "shards": settings.shards,
        "redis_url": settings.resolved_redis_url,
        "flower_port": settings.flower_port,
        "pid": os.getpid(),
    }
    path.write_text(json.dumps(values, indent=2) + "\n")
    return path


def adopt_runfile(home: Path) -> None:
    """Export the running stack's choices as CLAW_* defaults for this process."""
    try:
        values = json.loads((home / RUNFILE).read_text())
    except (OSError, ValueError):
        return
    for key, env_name in SHARED.items():
        if key in values and env_name not in os.environ:
            os.environ[env_name] = str(values[key])


def remove_runfile(settings: Settings) -> None:
    (settings.home / RUNFILE).unlink(missing_ok=True)

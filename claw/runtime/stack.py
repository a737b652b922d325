"""What `claw up` runs: the process specs of the whole stack on one machine."""

from __future__ import annotations

import sys
from pathlib import Path

from claw.config import Settings
from claw.pipeline.routing import IO_QUEUE, SHARD_QUEUE_PREFIX
from claw.runtime.supervisor import ProcessSpec

CELERY = [sys.executable, "-m", "celery", "-A", "claw.celery_app"]
IO_CONCURRENCY = 4


def shard_worker_argv(shard: int, log_level: str = "INFO") -> list[str]:
    """One shard queue's worker: single concurrency, one message prefetched (DESIGN.md); prefork,
    so Celery's hard time limit can end a turn that hangs."""
    return [
        *CELERY, "worker", "-Q", f"{SHARD_QUEUE_PREFIX}{shard}", "-n", f"shard{shard}@%h",
        # -c 1 explicitly: the pool sizes prefetch from it (DESIGN.md)
        "-c", "1", "--prefetch-multiplier", "1", "-P", "prefork",
        "--without-gossip", "--without-mingle", "-l", log_level,
    ]


def stack_specs(
    settings: Settings,
    *,
    env: dict[str, str],
    flower: bool,
    log_level: str = "INFO",
) -> list[ProcessSpec]:
    home = settings.home.resolve()
    grace = float(settings.turn_time_limit)
    specs = [
        ProcessSpec(
            f"shard{n}",
            shard_worker_argv(n, log_level),
            env=env,
            stop_grace=grace,
        )
        for n in range(settings.shard_base, settings.shard_base + settings.shards)
    ]
    specs.append(
        ProcessSpec(
            "io",
            [
                *CELERY, "worker", "-Q", IO_QUEUE, "-n", "io@%h", "-P", "threads",
                "-c", str(IO_CONCURRENCY), "--without-gossip", "--without-mingle", "-l", log_level,
            ],
            env=env,
            stop_grace=60,
        )
    )
    specs.append(
        ProcessSpec(
            "beat",
            [*CELERY, "beat", "-s", str(home / "beat-schedule"), "-l", log_level],
            env={**env, "CLAW_ROLE": "beat"},  # no task modules (claw/celery_app.py)
            stop_grace=10,
        )
    )
    specs.append(
        ProcessSpec(
            "api",
            [
                sys.executable, "-m", "uvicorn", "claw.api.app:create_app", "--factory",
                "--host", settings.api_host, "--port", str(settings.api_port),
                "--log-level", log_level.lower(), "--no-access-log",
            ],
            env=env,
            stop_grace=10,
        )
    )
    if flower:
        specs.append(
            ProcessSpec(
                "flower",
                [
                    *CELERY, "flower", "--address=127.0.0.1", f"--port={settings.flower_port}",
                    f"--db={home / 'flower.db'}", "--persistent=False",
                ],
                # through the environment, not argv, so the password is not in `ps`
                env={**env, "CLAW_ROLE": "flower",
                     "FLOWER_BASIC_AUTH": f"{settings.flower_user}:{env['CLAW_API_TOKEN']}"},
                stop_grace=5,
            )
        )
    return specs


def ensure_dirs(settings: Settings) -> None:
    for path in (settings.home, settings.workspace / "groups"):
        Path(path).mkdir(parents=True, exist_ok=True)

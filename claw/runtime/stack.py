"""What `claw up` runs: the process specs of the whole stack on one machine."""

from __future__ import annotations

import sys
from pathlib import Path

from claw.config import Settings
from claw.logs import LOG_FILE_ENV, PROCESS_ENV, log_dir
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
    log_level: str | None = None,
    verbose: bool = False,
) -> list[ProcessSpec]:
    """``verbose`` (or CLAW_LOG_LEVEL=debug) keeps every process's output on the console;
    otherwise Celery's banners and task lines go to $CLAW_HOME/logs/ (claw/logs.py)."""
    home = settings.home.resolve()
    grace = float(settings.turn_time_limit)
    log_level = (log_level or settings.log_level).upper()
    to_files = not verbose and log_level != "DEBUG"

    def celery_logs(name: str) -> tuple[list[str], dict[str, str]]:
        """The Celery options and environment that send process ``name``'s logs to its file."""
        if not to_files:
            return [], {**env, PROCESS_ENV: name}
        path = str(log_dir(home) / f"{name}.log")
        return ["--logfile", path], {**env, PROCESS_ENV: name, LOG_FILE_ENV: path}

    specs = []
    for n in range(settings.shard_base, settings.shard_base + settings.shards):
        options, shard_env = celery_logs(f"shard{n}")
        specs.append(ProcessSpec(
            f"shard{n}",
            [*shard_worker_argv(n, log_level), *options],
            env=shard_env,
            stop_grace=grace,
        ))
    options, io_env = celery_logs("io")
    specs.append(
        ProcessSpec(
            "io",
            [
                *CELERY, "worker", "-Q", IO_QUEUE, "-n", "io@%h", "-P", "threads",
                "-c", str(IO_CONCURRENCY), "--without-gossip", "--without-mingle", "-l", log_level,
                *options,
            ],
            env=io_env,
            stop_grace=60,
        )
    )
    options, beat_env = celery_logs("beat")
    specs.append(
        ProcessSpec(
            "beat",
            [*CELERY, "beat", "-s", str(home / "beat-schedule"), "-l", log_level, *options],
            env={**beat_env, "CLAW_ROLE": "beat"},  # no task modules (claw/celery_app.py)
            stop_grace=10,
        )
    )
    specs.append(
        ProcessSpec(
            "api",
            [
                sys.executable, "-m", "uvicorn", "claw.api.app:create_app", "--factory",
                "--host", settings.api_host, "--port", str(settings.api_port),
                # its start-up lines repeat what `claw up` prints; warnings and errors still show
                "--log-level", "warning" if to_files and log_level == "INFO" else log_level.lower(),
                "--no-access-log",
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
                    # tornado's logging options: Flower's start-up list of tasks and its
                    # per-request lines in the file, like the workers'
                    *([f"--log_file_prefix={log_dir(home) / 'flower.log'}", "--log_to_stderr=False"]
                      if to_files else []),
                ],
                # through the environment, not argv, so the password is not in `ps`
                env={**env, "CLAW_ROLE": "flower",
                     "FLOWER_BASIC_AUTH": f"{settings.flower_user}:{env['CLAW_API_TOKEN']}"},
                stop_grace=5,
            )
        )
    return specs


def ensure_dirs(settings: Settings) -> None:
    for path in (settings.home, log_dir(settings.home), settings.workspace / "groups"):
        Path(path).mkdir(parents=True, exist_ok=True)

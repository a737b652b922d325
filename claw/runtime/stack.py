"""What `claw up` runs: the process specs of the whole stack on one machine."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from claw.config import Settings
from claw.logs import LOG_FILE_ENV, PROCESS_ENV, log_dir
from claw.pipeline.routing import IO_QUEUE, SHARD_QUEUE_PREFIX
from claw.runtime.supervisor import ProcessSpec, Supervisor

CELERY = [sys.executable, "-m", "celery", "-A", "claw.celery_app"]
IO_CONCURRENCY = 4


def shard_worker_argv(shard: int, log_level: str = "INFO") -> list[str]:
    """The command line of a shard worker run on its own (`claw worker`)."""
    return [*CELERY, *shard_worker_args(shard, log_level)]


def shard_worker_args(shard: int, log_level: str = "INFO") -> list[str]:
    """One shard queue's worker, as ``celery`` arguments: single concurrency, one message
    prefetched (DESIGN.md). Its pool is celeryconfig's default (worker_pool): solo, with the
    time limits enforced (claw/runtime/solo_pool.py), one process per shard."""
    return [
        "worker", "-Q", f"{SHARD_QUEUE_PREFIX}{shard}", "-n", f"shard{shard}@%h",
        # -c 1 explicitly: the pool sizes prefetch from it (DESIGN.md)
        "-c", "1", "--prefetch-multiplier", "1",
        "--without-gossip", "--without-mingle", "-l", log_level,
    ]


#: the fork server: it runs every process of the stack but Redis (claw/runtime/forkserver.py)
FORKSERVER = "forkserver"
#: seconds the fork server may take past its children's own grace to stop them and exit
FORKSERVER_EXTRA_GRACE = 15.0


def io_worker_args(log_level: str = "INFO") -> list[str]:
    """The io worker: polls, sends, sweeps; threads, as it mostly waits on the network."""
    return [
        "worker", "-Q", IO_QUEUE, "-n", "io@%h", "-P", "threads", "-c", str(IO_CONCURRENCY),
        "--without-gossip", "--without-mingle", "-l", log_level,
    ]


def celery_logs(home: Path, name: str, *, to_files: bool) -> tuple[list[str], dict[str, str]]:
    """The Celery options and environment (added to the inherited one) that send process
    ``name``'s logs to its file, or keep them on the console."""
    if not to_files:
        return [], {PROCESS_ENV: name}
    path = str(log_dir(home) / f"{name}.log")
    return ["--logfile", path], {PROCESS_ENV: name, LOG_FILE_ENV: path}


def logs_to_files(log_level: str, *, verbose: bool) -> bool:
    """``verbose`` (or CLAW_LOG_LEVEL=debug) keeps every process's output on the console;
    otherwise Celery's banners and task lines go to $CLAW_HOME/logs/ (claw/logs.py)."""
    return not verbose and log_level.upper() != "DEBUG"


def forked_specs(settings: Settings, *, log_level: str, to_files: bool, flower: bool,
                 api_token: str) -> list[ProcessSpec]:
    """The processes the fork server runs: one worker per shard, the io worker, beat, the API
    and Flower. Each ``argv`` is a command line the fork server runs in the forked child
    (``celery worker -Q ...``, ``uvicorn claw.api.app:create_app ...``); ``env`` is what the
    process adds to the fork server's environment. ``api_token`` is Flower's password."""
    home = settings.home.resolve()
    log_level = log_level.upper()
    specs = []
    for n in range(settings.shard_base, settings.shard_base + settings.shards):
        options, env = celery_logs(home, f"shard{n}", to_files=to_files)
        specs.append(ProcessSpec(f"shard{n}", ["celery", *shard_worker_args(n, log_level), *options],
                                 env=env, stop_grace=float(settings.turn_time_limit)))
    options, env = celery_logs(home, "io", to_files=to_files)
    specs.append(ProcessSpec("io", ["celery", *io_worker_args(log_level), *options], env=env, stop_grace=60))
    options, env = celery_logs(home, "beat", to_files=to_files)
    specs.append(ProcessSpec(
        "beat", ["celery", "beat", "-s", str(home / "beat-schedule"), "-l", log_level, *options],
        env=env, stop_grace=10,
    ))
    specs.append(ProcessSpec(
        "api",
        [
            "uvicorn", "claw.api.app:create_app", "--factory",
            "--host", settings.api_host, "--port", str(settings.api_port),
            # its start-up lines repeat what `claw up` prints; warnings and errors still show
            "--log-level", "warning" if to_files and log_level == "INFO" else log_level.lower(),
            "--no-access-log",
        ],
        env={PROCESS_ENV: "api"},
        stop_grace=10,
    ))
    if flower:
        specs.append(ProcessSpec(
            "flower",
            [
                "celery", "flower", "--address=127.0.0.1", f"--port={settings.flower_port}",
                f"--db={home / 'flower.db'}", "--persistent=False",
                # tornado's logging options: Flower's start-up list of tasks and its
                # per-request lines in the file, like the workers'
                *([f"--log_file_prefix={log_dir(home) / 'flower.log'}", "--log_to_stderr=False"]
                  if to_files else []),
            ],
            # through the environment, not argv, so the password is not in `ps`
            env={PROCESS_ENV: "flower",
                 "FLOWER_BASIC_AUTH": f"{settings.flower_user}:{api_token}"},
            stop_grace=5,
        ))
    return specs


def stack_specs(
    settings: Settings,
    *,
    env: dict[str, str],
    flower: bool,
    log_level: str | None = None,
    verbose: bool = False,
) -> list[ProcessSpec]:
    """What `claw up` starts besides its Redis (claw/cli/stack.py): the fork server, which
    runs every other process of the stack (forked_specs)."""
    log_level = (log_level or settings.log_level).upper()
    to_files = logs_to_files(log_level, verbose=verbose)
    # it stops its children itself, each with its own grace (forked_specs), then exits
    grace = max(float(settings.turn_time_limit), 60.0) + FORKSERVER_EXTRA_GRACE
    return [
        ProcessSpec(
            FORKSERVER,
            [sys.executable, "-m", "claw.runtime.forkserver", "--log-level", log_level,
             *([] if to_files else ["--console-logs"]), *(["--flower"] if flower else [])],
            env={**env, PROCESS_ENV: FORKSERVER},
            stop_grace=grace,
        ),
    ]


def stack_started(supervisor: Supervisor) -> None:
    """Once `claw up` is up: its fork server forks again a child that exits, instead of failing
    the start (claw/runtime/forkserver.py), now and after any restart of its own."""
    run = supervisor.running.get(FORKSERVER)
    if run is None:
        return
    if "--started" not in run.spec.argv:
        run.spec.argv = [*run.spec.argv, "--started"]
    run.process.send_signal(signal.SIGUSR1)  # forkserver.STARTED_SIGNAL (not imported: the fork
    # server's module would bring nothing `claw up` needs)


def ensure_dirs(settings: Settings) -> None:
    for path in (settings.home, log_dir(settings.home), settings.workspace / "groups"):
        Path(path).mkdir(parents=True, exist_ok=True)

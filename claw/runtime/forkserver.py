"""``python -m claw.runtime.forkserver``: every process of `claw up` but Redis, forked from one.

Why a fork server (a "zygote"): each shard worker used to be a ``python -m celery worker`` of
its own, importing Celery, kombu, SQLAlchemy, the agent, the sandbox and the model's SDK again,
~55 MB of PSS each plus as much for its prefork pool process; the io worker, beat, Flower and
the API each did the same (claw bench footprint). This process imports all of it once, freezes
it out of the garbage collector's reach (``gc.freeze``: a collection in a child would otherwise
write to every object's header and copy its page), then forks one child per process: each shard
worker, the io worker, beat, the API and Flower. A child shares the imported pages until it
writes to one: it costs what it writes, not what it imported. The shard workers run their turns
themselves (claw/runtime/solo_pool.py): one process per shard.

Each child runs the command line it ran as a program of its own before (claw/runtime/stack.py,
``forked_specs``), in a session of its own and with PR_SET_PDEATHSIG, so it dies with this
process. This process supervises them with `claw up`'s own supervisor (claw/runtime/
supervisor.py): a child that dies is forked again at once, with nothing to import; SIGTERM or
SIGINT stop them warm (running turns finish, each child given its grace), a second one at once.

Forking is safe because nothing before the fork opens a connection or starts a thread: the Redis
client and the database engine are made on first use (claw/redis_client.py, claw/db/session.py),
in the child.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import signal
import sys
import threading
import time

from claw.runtime.forked import ForkedChild, fork_child
from claw.runtime.supervisor import STOP_SIGNALS, ProcessSpec, Supervisor

log = logging.getLogger(__name__)

#: what a Celery process imports as it starts or runs its first task, beyond the task modules
#: that the app's ``include`` brings: imported here so that every child shares it
PRELOAD = (
    "celery.bin.celery",
    "celery.bin.worker",
    "celery.apps.worker",
    "celery.worker",
    "celery.worker.consumer",
    "celery.worker.strategy",
    "celery.worker.autoscale",
    "celery.concurrency.thread",
    "claw.runtime.solo_pool",
    "celery.backends.redis",
    "celery.events.dispatcher",
    "celery.app.trace",
    "kombu.transport.redis",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "claw.sandbox",
    "claw.agent.loop",
    "claw.agent.offline",
    "celery.apps.beat",
    "celery.beat",
    "celery.app.control",
    "celery.app.events",
    "celery.app.log",
    "celery.worker.consumer.delayed_delivery",
)
#: the API's web framework and server
API_MODULES = (
    "claw.api.app",
    "uvicorn.main",
    "uvicorn.server",
    "uvicorn.config",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
)
#: Flower and its web server (tornado), when `claw up` runs Flower
FLOWER_MODULES = ("flower.command", "flower.app", "flower.urls", "tornado.web", "tornado.httpserver")
#: the model's SDK, when the settings choose it (a provider module imports its SDK)
PROVIDER_MODULES = {"anthropic": "claw.agent.claude", "openai": "claw.agent.openai_compat"}
#: the database driver, when the settings choose PostgreSQL
POSTGRES_MODULES = ("sqlalchemy.dialects.postgresql.psycopg", "psycopg")


def preload(*, flower: bool) -> None:
    """Import what the children run, then move it out of the collector's sight."""
    from claw.celery_app import app
    from claw.config import get_settings

    settings = get_settings()
    app.loader.import_default_modules()  # claw.tasks, and through it the whole pipeline
    modules = [*PRELOAD, *API_MODULES]
    provider = PROVIDER_MODULES.get(settings.resolved_llm)
    if provider:
        modules.append(provider)
    if settings.resolved_database_url.startswith("postgresql"):
        modules.extend(POSTGRES_MODULES)
    if flower:
        modules.extend(FLOWER_MODULES)
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional extra not installed: the child imports it if it can
            log.debug("preload_skipped module=%s error=%s", name, exc)
    app.finalize(auto=True)
    from sqlalchemy.orm import configure_mappers

    configure_mappers()  # else done on each worker's first query, in its own memory
    if threading.active_count() > 1:  # a thread would not exist in the children: say so
        log.warning("preload_started_threads threads=%s", [t.name for t in threading.enumerate()])
    gc.collect()
    gc.freeze()


def run_program(spec: ProcessSpec) -> int:
    """In a forked child: become the process ``spec`` describes: its command line (``celery
    ...`` or ``uvicorn ...``), run here, and the environment it adds."""
    from claw.celery_app import app
    from claw.config import get_settings
    from claw.logs import route_stdout

    os.environ.update(spec.env or {})
    get_settings.cache_clear()  # its own log file and process name (claw/logs.py)
    route_stdout()
    # the fork server's console handler is not the worker's: Celery sets up its own logging
    # only on a root logger without handlers (worker_hijack_root_logger is off)
    for handler in list(logging.root.handlers):
        logging.root.removeHandler(handler)
    program, *args = spec.argv
    _set_title(f"claw {spec.name}: {' '.join(spec.argv)}")
    if program == "uvicorn":
        from uvicorn.main import main as uvicorn

        sys.argv = ["-m", "uvicorn", *args]
        uvicorn.main(args=args, prog_name="uvicorn", standalone_mode=False)
        return 0
    # what a worker restarted by SIGHUP runs (Celery re-executes sys.argv)
    sys.argv = ["-m", "celery", "-A", "claw.celery_app", *args]
    code = app.start(argv=args)
    return code if isinstance(code, int) else 0


def _set_title(title: str) -> None:
    """Until Celery sets its own title (``[celeryd: shard0@host:MainProcess] ...``)."""
    try:
        from setproctitle import setproctitle
    except ImportError:  # pragma: no cover - a dependency; `ps` then shows the fork server's line
        return
    setproctitle(title)


#: what `claw up` sends once the stack is up (claw/runtime/stack.py, stack_started)
STARTED_SIGNAL = signal.SIGUSR1


def spawn(spec: ProcessSpec) -> ForkedChild:
    return fork_child(lambda: run_program(spec), orphan_signal=spec.orphan_signal,
                      reset_signals=(*STOP_SIGNALS, STARTED_SIGNAL))


def supervise(supervisor: Supervisor, *, started: bool) -> None:
    """Until a stop signal: fork again what dies. Until `claw up` says the stack is up
    (``--started``, or STARTED_SIGNAL), a child that exits fails the start instead, as a process
    of `claw up` does (claw/runtime/readiness.py): the fork server stops the others and exits 1,
    and `claw up` says so rather than wait for a process that crashes at every start."""
    up = [started]
    signal.signal(STARTED_SIGNAL, lambda *_: up.append(True))
    supervisor.install_signal_handlers()
    supervisor.start()
    while not supervisor.received:
        exited = supervisor.exited()
        if exited and not any(up):
            name, code = next(iter(exited.items()))
            log.error("%s exited with code %s while claw was starting; its own output above says why",
                      name, code)
            supervisor.stop()
            sys.exit(1)
        supervisor.poll_once()
        time.sleep(0.2)
    supervisor.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options `claw up` gives the fork server (claw/runtime/stack.py, stack_specs)."""
    parser = argparse.ArgumentParser(prog="python -m claw.runtime.forkserver", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", help="the workers' Celery log level")
    parser.add_argument("--console-logs", action="store_true",
                        help="keep the workers' logs on the console, not in $CLAW_HOME/logs/")
    parser.add_argument("--flower", action="store_true", help="run Flower too")
    parser.add_argument("--started", action="store_true",
                        help="the stack was up before (a restart): a child that exits is forked again")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    from claw.config import get_settings
    from claw.runtime.stack import forked_specs

    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="forkserver | %(message)s", stream=sys.stderr)
    if settings.log_level.lower() != "debug":
        # `claw up` says when it starts and stops the stack; a worker restarted still shows
        logging.getLogger("claw.runtime.supervisor").setLevel(logging.WARNING)
    specs = forked_specs(settings, log_level=args.log_level, to_files=not args.console_logs,
                         flower=args.flower, api_token=settings.api_token_value())
    preload(flower=args.flower)
    supervisor = Supervisor(specs, spawn=spawn)
    supervise(supervisor, started=args.started)
    sys.exit(1 if supervisor.forced else 0)


if __name__ == "__main__":
    main()

"""`claw up`, `claw migrate`, `claw doctor`: running the stack and checking it."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from claw.cli.common import cli, client_settings, fail, settings_with
from claw.config import Settings, get_settings


@cli.command()
def up(
    home: Annotated[Optional[Path], typer.Option(help="state directory (CLAW_HOME)")] = None,
    api_port: Annotated[Optional[int], typer.Option(help="HTTP API port")] = None,
    flower_port: Annotated[Optional[int], typer.Option(help="Flower port")] = None,
    shards: Annotated[Optional[int], typer.Option(help="shard workers (parallel groups)")] = None,
    no_flower: Annotated[bool, typer.Option("--no-flower", help="do not start Flower")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="every process's log on the console, "
                                          "not in $CLAW_HOME/logs/")] = False,
) -> None:
    """Run the whole stack on this machine until Ctrl-C, SIGTERM or SIGHUP (which stop it warm;
    a second Ctrl-C stops it at once)."""
    from claw.logs import quiet_libraries, redact_handlers
    from claw.runtime.lifeline import HomeInUse, HomeLock
    from claw.runtime.output import survive_lost_output
    from claw.runtime.readiness import NotReady, check_ports_free, ports_of, wait_until_ready
    from claw.runtime.redis_server import RedisServerError, redis_argv, start_redis
    from claw.runtime.runfile import remove_runfile, write_runfile
    from claw.runtime.stack import ensure_dirs, stack_specs, stack_started
    from claw.runtime.supervisor import ProcessSpec, Supervisor

    survive_lost_output()
    logging.basicConfig(level=get_settings().log_level.upper(), format="claw up | %(message)s",
                        stream=sys.stderr)
    quiet_libraries(get_settings().log_level)
    redact_handlers(logging.getLogger())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the readiness polls of /healthz
    settings = settings_with(
        home=home.expanduser().resolve() if home else None, api_port=api_port,
        flower_port=flower_port, shards=shards, task_events=None if no_flower else True,
    )
    ensure_dirs(settings)
    try:
        home_lock = HomeLock(settings.home).acquire()
    except HomeInUse as exc:
        raise fail(f"claw: {exc}") from None
    from claw.sandbox import describe

    sandbox_ok, sandbox_detail = describe(settings)
    try:
        if not sandbox_ok:  # shard workers would refuse to start (claw/runtime/worker_guard.py)
            raise NotReady(f"claw cannot run the agent's code safely: {sandbox_detail}")
        check_ports_free(ports_of(settings, flower=not no_flower, private_redis=not settings.redis_url))
    except NotReady as exc:
        home_lock.release()
        raise fail(f"claw: {exc}") from None
    os.environ["CLAW_API_TOKEN"] = settings.api_token_value(create=True)
    redis_process = None
    if not settings.redis_url:
        try:
            redis_process = start_redis(settings.home, settings.redis_port, tied_to_parent=True)
        except RedisServerError as exc:
            home_lock.release()
            raise fail(f"claw: {exc}") from None
        os.environ["CLAW_REDIS_URL"] = settings.resolved_redis_url
    settings = settings_with()
    _migrate_in_child()
    supervisor = Supervisor(stack_specs(settings, env=os.environ.copy(), flower=not no_flower, verbose=verbose))
    if redis_process is not None:  # restarted like the rest if it dies; stopped after the rest
        supervisor.adopt(
            ProcessSpec("redis", redis_argv(settings.home, settings.redis_port), stop_grace=10,
                        orphan_signal=signal.SIGTERM, stop_last=True),
            redis_process,
        )
    supervisor.install_signal_handlers()  # before the start: a Ctrl-C while starting stops warm
    supervisor.start()
    try:
        ready = wait_until_ready(supervisor, settings, timeout=settings.startup_timeout)
    except NotReady as exc:
        logging.getLogger(__name__).error("%s", exc)
        supervisor.stop()
        home_lock.release()
        raise fail(f"claw: {exc}") from None
    if ready:
        stack_started(supervisor)
    write_runfile(settings)
    try:
        if ready:
            _banner(settings, flower=not no_flower, sandbox_detail=sandbox_detail,
                    console_logs=verbose or settings.log_level == "debug")
            supervisor.run_until_signalled()
        else:
            supervisor.stop()
    finally:
        remove_runfile(settings)
        home_lock.release()
    print("claw stopped." if not supervisor.forced else "claw stopped (forced).", flush=True)


def _banner(settings: Settings, *, flower: bool, sandbox_detail: str, console_logs: bool) -> None:
    """What to do now: printed once the stack is up, with the exact commands that reach it."""
    from claw.config import default_home

    home = settings.home.resolve()
    # a stack outside the default home is found through CLAW_HOME (and the latest-stack pointer)
    prefix = "" if home == default_home().resolve() else f"CLAW_HOME={shlex.quote(str(home))} "
    token_hint = ("CLAW_API_TOKEN" if "CLAW_API_TOKEN" in os.environ and not settings.token_file.exists()
                  else str(settings.token_file.resolve()))
    lines = [
        f"chat:    {prefix}{_claw_command()} chat   (terminal)",
        f"web:     http://{settings.api_host}:{settings.api_port}/  (the chat page; log in with the token)",
        f"API:     http://{settings.api_host}:{settings.api_port}  (bearer token in {token_hint})",
    ]
    if flower:
        lines.append(f"Flower:  http://127.0.0.1:{settings.flower_port}  (user {settings.flower_user}, "
                     "password = API token)")
    lines.append("logs:    here (--verbose)" if console_logs
                 else f"logs:    {settings.home / 'logs'}/  (claw up --verbose shows them here)")
    lines.append("Ctrl-C stops it warm: running turns finish first (Ctrl-C again: at once).")
    if sandbox_detail.startswith("WARNING"):  # CLAW_SANDBOX=subprocess, chosen explicitly
        lines.append(f"sandbox: {sandbox_detail}")
    _announce(f"claw is up: model={settings.resolved_llm} shards={settings.shards} home={home}", lines)
    sys.stdout.flush()


def _announce(title: str, lines: list[str]) -> None:
    """Where to talk to claw, framed and bold so it stands out of the start-up lines."""
    rule = "=" * max(len(title), *(len(line) + 2 for line in lines))
    typer.secho(f"\n{rule}\n{title}", bold=True, fg="green")
    for line in lines:
        typer.secho(f"  {line}", bold=line.startswith(("chat:", "web:", "API:")))
    typer.secho(rule, bold=True, fg="green")


@cli.command()
def migrate() -> None:
    """Apply database migrations, and move group folders to the current layout."""
    from claw.db.migrate import upgrade
    from claw.doctor import redacted

    settings = get_settings()
    where = redacted(settings.resolved_database_url)
    done = upgrade(settings.resolved_database_url)
    if done.created:
        typer.echo(f"created the database {where}: every table, schema {done.after}")
    elif done.before != done.after:
        typer.echo(f"upgraded the database {where} from schema {done.before} to {done.after}")
    else:
        typer.echo(f"the database {where} is up to date (schema {done.after})")
    made = not settings.workspace.is_dir()
    settings.workspace.mkdir(parents=True, exist_ok=True)
    moved = _migrate_group_folders(settings)
    if made:
        typer.echo(f"created the workspace {settings.workspace.resolve()}")
    typer.echo(f"group folders are up to date ({moved} migrated)")


def _migrate_in_child() -> None:
    """`claw migrate`, in a process of its own: `claw up` lives as long as the stack, and
    SQLAlchemy and Alembic, loaded once for the migration, would stay in its memory (~25 MB)."""
    done = subprocess.run([sys.executable, "-m", "claw.cli", "migrate"], env=os.environ.copy(),
                          capture_output=True, text=True)
    if done.returncode != 0:
        typer.secho(f"claw cannot migrate its database:\n{done.stdout}{done.stderr}", fg="red", err=True)
        raise typer.Exit(1)


def _migrate_group_folders(settings: Settings) -> int:
    """Group folders from before the scratch split get it (idempotent; see claw/sandbox/layout.py)."""
    from claw.sandbox.layout import migrate_workspace

    return migrate_workspace(settings)


@cli.command()
def doctor() -> None:
    """Check database, Redis, workers, beat, workspace, LLM credentials and sandbox."""
    from claw.doctor import no_stack, run_checks
    from claw.runtime.runfile import find_stack

    # A Redis named in the environment is checked as asked; else only a stack running in this
    # home (its run.json) says which Redis is ours, and the default port may be another home's
    redis_named = "CLAW_REDIS_URL" in os.environ
    settings = client_settings()
    stack_running = redis_named or find_stack(settings.home) is not None
    if not stack_running:
        typer.secho(no_stack(settings), fg="yellow")
    checks = run_checks(settings, stack_running)
    for check in checks:
        mark = typer.style("ok  ", fg="green") if check.ok else typer.style("FAIL", fg="red")
        typer.echo(f"{mark} {check.name:<10} {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def _claw_command() -> str:
    """How to run `claw` from here: `make run` does not put the venv on PATH."""
    beside = Path(sys.executable).parent / "claw"
    if shutil.which("claw") == str(beside) or not beside.exists():
        return "claw"
    try:
        return str(beside.relative_to(Path.cwd()))
    except ValueError:
        return str(beside)

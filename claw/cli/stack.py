"""`claw up`, `claw migrate`, `claw doctor`: running the stack and checking it."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from claw.cli.common import cli, client_settings, settings_with
from claw.config import Settings, get_settings


@cli.command()
def up(
    home: Annotated[Optional[Path], typer.Option(help="state directory (CLAW_HOME)")] = None,
    api_port: Annotated[Optional[int], typer.Option(help="HTTP API port")] = None,
    flower_port: Annotated[Optional[int], typer.Option(help="Flower port")] = None,
    shards: Annotated[Optional[int], typer.Option(help="shard workers (parallel groups)")] = None,
    no_flower: Annotated[bool, typer.Option("--no-flower", help="do not start Flower")] = False,
) -> None:
    """Run the whole stack on this machine until Ctrl-C (which stops it warm)."""
    from claw.runtime.lifeline import HomeInUse, HomeLock
    from claw.runtime.redis_server import RedisServerError, redis_argv, start_redis
    from claw.runtime.runfile import remove_runfile, write_runfile
    from claw.runtime.stack import ensure_dirs, stack_specs
    from claw.runtime.supervisor import ProcessSpec, Supervisor

    logging.basicConfig(level=logging.INFO, format="claw up | %(message)s")
    settings = settings_with(
        home=home, api_port=api_port, flower_port=flower_port, shards=shards,
        task_events=None if no_flower else True,
    )
    ensure_dirs(settings)
    try:
        home_lock = HomeLock(settings.home).acquire()
    except HomeInUse as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    from claw.sandbox import describe

    sandbox_ok, sandbox_detail = describe(settings)
    if not sandbox_ok:  # shard workers would refuse to start (claw/runtime/worker_guard.py)
        typer.secho(f"claw cannot run the agent's code safely: {sandbox_detail}", fg="red", err=True)
        home_lock.release()
        raise typer.Exit(1)
    os.environ["CLAW_API_TOKEN"] = settings.api_token_value(create=True)
    redis_process = None
    if not settings.redis_url:
        try:
            redis_process = start_redis(settings.home, settings.redis_port, tied_to_parent=True)
        except RedisServerError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(1) from None
        os.environ["CLAW_REDIS_URL"] = settings.resolved_redis_url
    settings = settings_with()
    _migrate_in_child()
    supervisor = Supervisor(stack_specs(settings, env=os.environ.copy(), flower=not no_flower))
    if redis_process is not None:  # restarted like the rest if it dies; stopped after the rest
        supervisor.adopt(
            ProcessSpec("redis", redis_argv(settings.home, settings.redis_port), stop_grace=10,
                        orphan_signal=signal.SIGTERM, stop_last=True),
            redis_process,
        )
    supervisor.start()
    write_runfile(settings)
    token_hint = "CLAW_API_TOKEN" if "CLAW_API_TOKEN" in os.environ and not settings.token_file.exists() else str(settings.token_file)
    typer.echo(
        f"claw is up: model={settings.resolved_llm} shards={settings.shards}\n"
        f"  chat:    {_claw_command()} chat   (terminal)\n"
        f"  API:     http://{settings.api_host}:{settings.api_port}  (bearer token in {token_hint})\n"
        + ("" if no_flower else f"  Flower:  http://127.0.0.1:{settings.flower_port}  (user {settings.flower_user}, password = API token)\n")
        + "  Ctrl-C stops it warm: running turns finish first."
    )
    if sandbox_detail.startswith("WARNING"):  # CLAW_SANDBOX=subprocess, chosen explicitly
        typer.secho(f"  sandbox: {sandbox_detail}", fg="yellow")
    sys.stdout.flush()
    try:
        supervisor.run_until_signalled()
    finally:
        remove_runfile(settings)
        home_lock.release()
    typer.echo("claw stopped.")


@cli.command()
def migrate() -> None:
    """Apply database migrations, and move group folders to the current layout."""
    from claw.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")
    moved = _migrate_group_folders(settings)
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
    from claw.doctor import run_checks

    checks = run_checks(client_settings())
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

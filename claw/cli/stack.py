"""`claw up`, `claw migrate`, `claw doctor`: running the stack and checking it."""

from __future__ import annotations

import logging
import os
import shutil
import signal
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="every process's log on the console, "
                                          "not in $CLAW_HOME/logs/")] = False,
) -> None:
    """Run the whole stack on this machine until Ctrl-C (which stops it warm)."""
    from claw.db.migrate import upgrade
    from claw.logs import quiet_libraries
    from claw.runtime.lifeline import HomeInUse, HomeLock
    from claw.runtime.redis_server import RedisServerError, redis_argv, start_redis
    from claw.runtime.runfile import remove_runfile, write_runfile
    from claw.runtime.stack import ensure_dirs, stack_specs
    from claw.runtime.supervisor import ProcessSpec, Supervisor

    logging.basicConfig(level=get_settings().log_level.upper(), format="claw up | %(message)s")
    quiet_libraries(get_settings().log_level)
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
    upgrade(settings.resolved_database_url)
    _migrate_group_folders(settings)
    supervisor = Supervisor(stack_specs(settings, env=os.environ.copy(), flower=not no_flower, verbose=verbose))
    if redis_process is not None:  # restarted like the rest if it dies; stopped after the rest
        supervisor.adopt(
            ProcessSpec("redis", redis_argv(settings.home, settings.redis_port), stop_grace=10,
                        orphan_signal=signal.SIGTERM, stop_last=True),
            redis_process,
        )
    supervisor.start()
    write_runfile(settings)
    token_hint = "CLAW_API_TOKEN" if "CLAW_API_TOKEN" in os.environ and not settings.token_file.exists() else str(settings.token_file)
    _announce(
        f"claw is up: model={settings.resolved_llm} shards={settings.shards}",
        [f"chat:    {_claw_command()} chat   (terminal)",
         f"API:     http://{settings.api_host}:{settings.api_port}  (bearer token in {token_hint})",
         *([] if no_flower else [f"Flower:  http://127.0.0.1:{settings.flower_port}  "
                                 f"(user {settings.flower_user}, password = API token)"]),
         ("logs:    here (--verbose)" if verbose or settings.log_level == "debug"
          else f"logs:    {settings.home / 'logs'}/  (claw up --verbose shows them here)"),
         "Ctrl-C stops it warm: running turns finish first."],
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


def _announce(title: str, lines: list[str]) -> None:
    """Where to talk to claw, framed and bold so it stands out of the start-up lines."""
    rule = "=" * max(len(title), *(len(line) + 2 for line in lines))
    typer.secho(f"\n{rule}\n{title}", bold=True, fg="green")
    for line in lines:
        typer.secho(f"  {line}", bold=line.startswith(("chat:", "API:")))
    typer.secho(rule, bold=True, fg="green")


@cli.command()
def migrate() -> None:
    """Apply database migrations, and move group folders to the current layout."""
    from claw.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")
    moved = _migrate_group_folders(settings)
    typer.echo(f"group folders are up to date ({moved} migrated)")


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

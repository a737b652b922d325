"""The `claw` command (typer): up, chat, send, doctor, migrate, groups, bench."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import httpx
import typer

from claw.config import Settings, get_settings

cli = typer.Typer(help="claw: a personal AI assistant for group chats, on Celery.", no_args_is_help=True)
groups_cli = typer.Typer(help="Inspect and configure groups.", no_args_is_help=True)
cli.add_typer(groups_cli, name="groups")


def _settings_with(**overrides: object) -> Settings:
    """Apply CLI options as CLAW_* variables, so child processes see the same settings."""
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"CLAW_{name.upper()}"] = str(value)
    get_settings.cache_clear()
    return get_settings()


def _client_settings() -> Settings:
    """Settings for a command that talks to a running stack: its run.json fills the gaps."""
    from claw.runfile import adopt_runfile

    adopt_runfile(get_settings().home)
    get_settings.cache_clear()
    return get_settings()


def _api_client(settings: Settings, timeout: float = 130.0) -> httpx.Client:
    try:
        token = settings.api_token_value()
    except RuntimeError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    return httpx.Client(
        base_url=f"http://{settings.api_host}:{settings.api_port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


@cli.command()
def up(
    home: Annotated[Optional[Path], typer.Option(help="state directory (CLAW_HOME)")] = None,
    api_port: Annotated[Optional[int], typer.Option(help="HTTP API port")] = None,
    flower_port: Annotated[Optional[int], typer.Option(help="Flower port")] = None,
    shards: Annotated[Optional[int], typer.Option(help="shard workers (parallel groups)")] = None,
    no_flower: Annotated[bool, typer.Option("--no-flower", help="do not start Flower")] = False,
) -> None:
    """Run the whole stack on this machine until Ctrl-C (which stops it warm)."""
    from claw.db.migrate import upgrade
    from claw.redis_server import RedisServerError, start_redis, stop_redis
    from claw.runfile import remove_runfile, write_runfile
    from claw.stack import ensure_dirs, stack_specs
    from claw.supervisor import Supervisor

    logging.basicConfig(level=logging.INFO, format="claw up | %(message)s")
    settings = _settings_with(
        home=home, api_port=api_port, flower_port=flower_port, shards=shards,
        task_events=None if no_flower else True,
    )
    ensure_dirs(settings)
    os.environ["CLAW_API_TOKEN"] = settings.api_token_value(create=True)
    redis_process = None
    if not settings.redis_url:
        try:
            redis_process = start_redis(settings.home, settings.redis_port)
        except RedisServerError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(1) from None
        os.environ["CLAW_REDIS_URL"] = settings.resolved_redis_url
    settings = _settings_with()
    upgrade(settings.resolved_database_url)
    supervisor = Supervisor(stack_specs(settings, env=os.environ.copy(), flower=not no_flower))
    supervisor.start()
    write_runfile(settings)
    token_hint = "CLAW_API_TOKEN" if "CLAW_API_TOKEN" in os.environ and not settings.token_file.exists() else str(settings.token_file)
    typer.echo(
        f"claw is up: model={settings.resolved_llm} shards={settings.shards}\n"
        f"  chat:    claw chat            (terminal)\n"
        f"  API:     http://{settings.api_host}:{settings.api_port}  (bearer token in {token_hint})\n"
        + ("" if no_flower else f"  Flower:  http://127.0.0.1:{settings.flower_port}  (user {settings.flower_user}, password = API token)\n")
        + "  Ctrl-C stops it warm: running turns finish first."
    )
    sys.stdout.flush()
    try:
        supervisor.run_until_signalled()
    finally:
        remove_runfile(settings)
        if redis_process is not None:
            stop_redis(redis_process)
    typer.echo("claw stopped.")


@cli.command()
def migrate() -> None:
    """Apply database migrations."""
    from claw.db.migrate import upgrade

    upgrade(get_settings().resolved_database_url)
    typer.echo("database is up to date")


@cli.command()
def send(
    group: Annotated[str, typer.Argument(help="chat name; the group is terminal:<name>")],
    text: Annotated[str, typer.Argument(help="message text")],
    sender: Annotated[str, typer.Option(help="who is speaking")] = os.environ.get("USER", "you"),
    wait: Annotated[float, typer.Option(help="seconds to wait for the reply")] = 60,
) -> None:
    """Send one message to the running stack and print the reply."""
    with _api_client(_client_settings()) as client:
        reply = _post(client, group, text, sender, wait)
    if reply is None:
        typer.secho("no reply yet; it will appear in the group's messages", fg="yellow", err=True)
        raise typer.Exit(1)
    typer.echo(reply)


def _post(client: httpx.Client, group: str, text: str, sender: str, wait: float) -> str | None:
    try:
        response = client.post(
            "/v1/messages",
            params={"wait": wait},
            json={"chat_id": group, "text": text, "sender": sender, "channel": "terminal"},
        )
    except httpx.HTTPError as exc:
        typer.secho(f"cannot reach the claw API ({type(exc).__name__}); is `claw up` running?", fg="red", err=True)
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        typer.secho(f"error {response.status_code}: {response.text}", fg="red", err=True)
        raise typer.Exit(2)
    reply = response.json().get("reply")
    return reply["text"] if reply else None


@cli.command()
def chat(
    group: Annotated[str, typer.Option(help="chat name; the group is terminal:<name>")] = "main",
    sender: Annotated[str, typer.Option(help="who is speaking")] = os.environ.get("USER", "you"),
) -> None:
    """Chat with claw in the terminal (the terminal channel). Ctrl-D quits."""
    typer.echo(f"Chatting in terminal:{group} as {sender}. Ctrl-D to quit.")
    with _api_client(_client_settings()) as client:
        while True:
            try:
                line = input("> ").strip()
            except (EOFError, KeyboardInterrupt):
                typer.echo()
                return
            if not line:
                continue
            reply = _post(client, group, line, sender, wait=120)
            typer.echo(reply if reply is not None else "(no reply within 120 s; it will arrive later)")


@cli.command()
def doctor() -> None:
    """Check database, Redis, workers, beat, workspace, LLM credentials and sandbox."""
    from claw.doctor import run_checks

    checks = run_checks(_client_settings())
    for check in checks:
        mark = typer.style("ok  ", fg="green") if check.ok else typer.style("FAIL", fg="red")
        typer.echo(f"{mark} {check.name:<10} {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@groups_cli.command("list")
def groups_list() -> None:
    """List the groups claw knows."""
    with _api_client(_client_settings()) as client:
        for group in client.get("/v1/groups").raise_for_status().json()["groups"]:
            flags = " ".join(f for f in ("priority", "is_main") if group[f])
            typer.echo(f"{group['id']}  {flags}".rstrip())


@groups_cli.command("set")
def groups_set(
    group_id: str,
    priority: Annotated[Optional[bool], typer.Option("--priority/--no-priority")] = None,
    main: Annotated[Optional[bool], typer.Option("--main/--no-main")] = None,
) -> None:
    """Mark a group as priority (its turns go first) or main."""
    with _api_client(_client_settings()) as client:
        response = client.patch(f"/v1/groups/{group_id}", json={"priority": priority, "is_main": main})
        if response.status_code >= 400:
            typer.secho(f"error {response.status_code}: {response.json().get('detail')}", fg="red", err=True)
            raise typer.Exit(1)
        typer.echo(response.json())


@cli.command()
def bench(
    messages: Annotated[int, typer.Option(help="messages in claw's throughput burst")] = 1000,
    groups: Annotated[int, typer.Option(help="groups the messages are spread over")] = 20,
    samples: Annotated[int, typer.Option(help="sequential round trips per side for p50/p99")] = 200,
    chains: Annotated[int, typer.Option(help="raw Celery chains in flight for the baseline")] = 1000,
) -> None:
    """Measure claw against a raw Celery 3-task chain on one private Redis; print both.

    Exits 0 when a target is missed (it is a measurement), 1 when it could not measure.
    """
    from claw.bench import BenchError, BenchOptions, render, run_bench

    logging.basicConfig(level=logging.INFO, format="claw bench | %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    options = BenchOptions(messages=messages, groups=groups, samples=samples, chains=chains)
    try:
        report = run_bench(options)
    except BenchError as exc:
        typer.secho(f"bench failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(render(report))


@groups_cli.command("personality")
def groups_personality(
    group_id: str,
    edit: Annotated[bool, typer.Option("--edit", help="edit it in $EDITOR and save")] = False,
) -> None:
    """Show a group's personality (its CLAUDE.md), or edit it."""
    with _api_client(_client_settings()) as client:
        response = client.get(f"/v1/groups/{group_id}/personality")
        if response.status_code >= 400:
            typer.secho(f"error {response.status_code}: {response.json().get('detail')}", fg="red", err=True)
            raise typer.Exit(1)
        current = response.json()
        if not edit:
            typer.echo(f"# source: {current['source']}, {current['previous_versions']} previous version(s)")
            typer.echo(current["text"])
            return
        edited = typer.edit(current["text"], extension=".md")
        if edited is None or edited.strip() == current["text"].strip():
            typer.echo("unchanged")
            return
        saved = client.put(f"/v1/groups/{group_id}/personality", json={"text": edited})
        if saved.status_code >= 400:
            typer.secho(f"error {saved.status_code}: {saved.text}", fg="red", err=True)
            raise typer.Exit(1)
        typer.echo(f"saved; {saved.json()['previous_versions']} previous version(s) kept")


@cli.command()
def usage(group_id: Annotated[Optional[str], typer.Argument(help="one group; all when omitted")] = None) -> None:
    """Tokens and cost per group."""
    with _api_client(_client_settings()) as client:
        if group_id:
            response = client.get(f"/v1/groups/{group_id}/usage")
            if response.status_code >= 400:
                typer.secho(f"error {response.status_code}: {response.json().get('detail')}", fg="red", err=True)
                raise typer.Exit(1)
            rows = [response.json()]
        else:
            rows = client.get("/v1/usage").raise_for_status().json()
    typer.echo(f"{'group':<32} {'turns':>6} {'input':>10} {'output':>10} {'cache r/w':>15} {'cost USD':>10}")
    for row in rows:
        cache = f"{row['cache_read_tokens']}/{row['cache_write_tokens']}"
        typer.echo(
            f"{row['group_id']:<32} {row['turns']:>6} {row['input_tokens']:>10} "
            f"{row['output_tokens']:>10} {cache:>15} {row['cost_usd']:>10.4f}"
        )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

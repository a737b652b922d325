"""`claw groups …` and `claw usage`: groups, their personality and what they cost."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from claw.cli.common import api_client, checked, cli, client_settings, groups_cli


@groups_cli.command("list")
def groups_list() -> None:
    """List the groups claw knows."""
    with api_client(client_settings()) as client:
        for group in checked(client.get("/v1/groups"))["groups"]:
            flags = " ".join(f for f in ("priority", "is_main") if group[f])
            typer.echo(f"{group['id']}  {flags}".rstrip())


@groups_cli.command("set")
def groups_set(
    group_id: str,
    priority: Annotated[Optional[bool], typer.Option("--priority/--no-priority")] = None,
    main: Annotated[Optional[bool], typer.Option("--main/--no-main")] = None,
) -> None:
    """Mark a group as priority (its turns go first) or main."""
    with api_client(client_settings()) as client:
        typer.echo(checked(client.patch(f"/v1/groups/{group_id}", json={"priority": priority, "is_main": main})))


@groups_cli.command("personality")
def groups_personality(
    group_id: str,
    edit: Annotated[bool, typer.Option("--edit", help="edit it in $EDITOR and save")] = False,
) -> None:
    """Show a group's personality (its CLAUDE.md), or edit it."""
    with api_client(client_settings()) as client:
        current = checked(client.get(f"/v1/groups/{group_id}/personality"))
        if not edit:
            typer.echo(f"# source: {current['source']}, {current['previous_versions']} previous version(s)")
            typer.echo(current["text"])
            return
        edited = typer.edit(current["text"], extension=".md")
        if edited is None or edited.strip() == current["text"].strip():
            typer.echo("unchanged")
            return
        saved = checked(client.put(f"/v1/groups/{group_id}/personality", json={"text": edited}))
        typer.echo(f"saved; {saved['previous_versions']} previous version(s) kept")


@cli.command()
def usage(group_id: Annotated[Optional[str], typer.Argument(help="one group; all when omitted")] = None) -> None:
    """Tokens and cost per group."""
    with api_client(client_settings()) as client:
        if group_id:
            rows = [checked(client.get(f"/v1/groups/{group_id}/usage"))]
        else:
            rows = checked(client.get("/v1/usage"))
    typer.echo(f"{'group':<32} {'turns':>6} {'input':>10} {'output':>10} {'cache r/w':>15} {'cost USD':>10}")
    for row in rows:
        cache = f"{row['cache_read_tokens']}/{row['cache_write_tokens']}"
        typer.echo(
            f"{row['group_id']:<32} {row['turns']:>6} {row['input_tokens']:>10} "
            f"{row['output_tokens']:>10} {cache:>15} {row['cost_usd']:>10.4f}"
        )


@groups_cli.command("failed")
def groups_failed(group_id: str) -> None:
    """Messages set aside because their turn kept failing, and why."""
    with api_client(client_settings()) as client:
        rows = checked(client.get(f"/v1/groups/{group_id}/failed"))["messages"]
    if not rows:
        typer.echo(f"no set-aside messages in {group_id}")
        return
    for row in rows:
        text = " ".join(row["text"].split())
        text = text if len(text) <= 70 else text[:69] + "…"
        typer.echo(f"#{row['id']}  {row['created_at']}  {row['sender']}: {text}")
        typer.echo(f"    set aside {row['set_aside_at']}: {row['set_aside_reason']}")
    typer.echo(f"{len(rows)} message(s); `claw groups retry {group_id}` puts them back")


@groups_cli.command("retry")
def groups_retry(
    group_id: str,
    message_ids: Annotated[Optional[list[int]], typer.Option("--id", help="only this message (repeatable)")] = None,
) -> None:
    """Put set-aside messages back, to be answered by the group's next turn."""
    body = {"message_ids": message_ids} if message_ids else {}
    with api_client(client_settings()) as client:
        result = checked(client.post(f"/v1/groups/{group_id}/failed/retry", json=body))
    count = len(result["retried"])
    typer.echo(f"{count} message(s) put back in {group_id}" if count else f"nothing set aside in {group_id}")

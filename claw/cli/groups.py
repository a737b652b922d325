"""`claw groups …` and `claw usage`: groups, their personality and what they cost."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from claw.cli.common import api_client, checked, cli, client_settings, groups_cli
from claw.pipeline.addressing import Respond


@groups_cli.command("list")
def groups_list() -> None:
    """List the groups claw knows."""
    with api_client(client_settings()) as client:
        for group in checked(client.get("/v1/groups"))["groups"]:
            flags = " ".join(f for f in ("priority", "is_main") if group[f])
            access = "" if group.get("access", "approved") == "approved" else f"  [{group['access']}]"
            typer.echo(f"{group['id']}  respond={group.get('respond', 'always')}{access}  {flags}".rstrip())


@groups_cli.command("set")
def groups_set(
    group_id: str,
    priority: Annotated[Optional[bool], typer.Option("--priority/--no-priority")] = None,
    main: Annotated[Optional[bool], typer.Option("--main/--no-main")] = None,
    respond: Annotated[Optional[Respond], typer.Option(
        help="mention: answer only messages that address claw; always: every message")] = None,
) -> None:
    """Mark a group as priority (its turns go first) or main; say when it is answered."""
    body = {"priority": priority, "is_main": main, "respond": respond.value if respond else None}
    with api_client(client_settings()) as client:
        typer.echo(checked(client.patch(f"/v1/groups/{group_id}", json=body)))


@groups_cli.command("pairings")
def groups_pairings() -> None:
    """Chats waiting for approval: their code, name and first message."""
    with api_client(client_settings()) as client:
        rows = checked(client.get("/v1/pairings"))["pairings"]
    if not rows:
        typer.echo("no chat is waiting for approval")
        return
    for row in rows:
        text = " ".join(row["first_text"].split())
        text = text if len(text) <= 60 else text[:59] + "…"
        state = "expired" if row["expired"] else f"until {row['expires_at']}"
        typer.echo(f"{row['code']}  {row['group_id']}  {row['chat_name'] or ''}  ({state})")
        typer.echo(f"    {row['first_sender']}: {text}")
    typer.echo("`claw groups approve CODE` lets a chat in; `claw groups block GROUP` refuses it")


@groups_cli.command("approve")
def groups_approve(code: Annotated[str, typer.Argument(help="a pairing code, or a group id")]) -> None:
    """Let a waiting (or blocked) chat in; what it sent meanwhile is answered now."""
    path = f"/v1/groups/{code}/approve" if ":" in code else f"/v1/pairings/{code}/approve"
    with api_client(client_settings()) as client:
        result = checked(client.post(path))
    typer.echo(f"{result['group_id']} approved")


@groups_cli.command("block")
def groups_block(group: Annotated[str, typer.Argument(help="a group id, or its pairing code")]) -> None:
    """Refuse a chat: its messages are dropped from now on."""
    with api_client(client_settings()) as client:
        if ":" not in group:
            codes = {p["code"]: p["group_id"] for p in checked(client.get("/v1/pairings"))["pairings"]}
            if group.upper() not in codes:
                raise typer.BadParameter(f"no chat waits with code {group!r}; give its group id")
            group = codes[group.upper()]
        result = checked(client.post(f"/v1/groups/{group}/block"))
    typer.echo(f"{result['group_id']} blocked")


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

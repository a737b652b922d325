"""`claw groups …` and `claw usage`: groups, their personality and what they cost."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import click
import typer

from claw.cli.common import (
    EXIT_USAGE,
    GROUP_HELP,
    api_client,
    checked,
    cli,
    client_settings,
    fail,
    group_id,
    group_path,
    groups_cli,
    shown,
)
from claw.pipeline.addressing import Respond

GroupArgument = Annotated[str, typer.Argument(help=GROUP_HELP)]


def _flags(group: dict[str, Any]) -> str:
    flags = [flag for flag in ("priority", "is_main") if group[flag]]
    if group.get("access", "approved") != "approved":
        flags.append(f"[{group['access']}]")  # waiting for approval, or blocked
    return " ".join(flags) or "-"


#: the columns of `claw groups list`: title, width, value of a group (the last one unpadded)
LIST_COLUMNS: list[tuple[str, int, Any]] = [
    ("group", 28, lambda g: g["id"]),
    ("name", 20, lambda g: g["name"] or "-"),
    ("timezone", 20, lambda g: g["timezone"] or "(default)"),
    ("respond", 8, lambda g: g.get("respond", "always")),
    ("flags", 0, _flags),
]


def _row(values: list[str]) -> str:
    cells = [f"{shown(value):<{width}}" if width else shown(value)
             for value, (_, width, _) in zip(values, LIST_COLUMNS, strict=True)]
    return " ".join(cells).rstrip()


@groups_cli.command("list")
def groups_list() -> None:
    """List the groups claw knows, with their name, timezone and flags (`claw groups set` changes them)."""
    with api_client(client_settings()) as client:
        groups = checked(client.get("/v1/groups"))["groups"]
    if not groups:
        typer.echo("no groups yet")
        return
    typer.echo(_row([title for title, _, _ in LIST_COLUMNS]))
    for group in groups:
        typer.echo(_row([str(value(group)) for _, _, value in LIST_COLUMNS]))


@groups_cli.command("set")
def groups_set(
    group: GroupArgument,
    priority: Annotated[Optional[bool], typer.Option("--priority/--no-priority", help="its turns go first")] = None,
    main: Annotated[Optional[bool], typer.Option("--main/--no-main", help="may write the global memory")] = None,
    name: Annotated[Optional[str], typer.Option(help="a name for people")] = None,
    timezone: Annotated[Optional[str], typer.Option("--timezone", "--tz", help="IANA name, e.g. Europe/Berlin")] = None,
    respond: Annotated[Optional[Respond], typer.Option(
        help="mention: answer only messages that address claw; always: every message")] = None,
) -> None:
    """Change a group: priority, main, name, timezone, or when it is answered."""
    target = group_id(group)
    changes = {"priority": priority, "is_main": main, "name": name, "timezone": timezone,
               "respond": respond.value if respond else None}
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes:
        raise fail("claw: nothing to change: give --priority/--no-priority, --main/--no-main, "
                   "--name or --timezone", EXIT_USAGE)
    with api_client(client_settings()) as client:
        saved = checked(client.patch(group_path(target), json=changes))
    words = {"priority": lambda v: f"priority {'on' if v else 'off'}",
             "is_main": lambda v: f"main {'on' if v else 'off'}",
             "name": lambda v: f"name {v!r}", "timezone": lambda v: f"timezone {v}",
             "respond": lambda v: f"answers {'every message' if v == 'always' else 'when addressed'}"}
    typer.echo(f"{saved['id']}: " + ", ".join(words[key](saved[key]) for key in changes))


@groups_cli.command("pairings")
def groups_pairings() -> None:
    """Chats waiting for approval: their code, name and first message."""
    with api_client(client_settings()) as client:
        rows = checked(client.get("/v1/pairings"))["pairings"]
    if not rows:
        typer.echo("no chat is waiting for approval")
        return
    for row in rows:
        text = shown(row["first_text"])
        text = text if len(text) <= 60 else text[:59] + "…"
        state = "expired" if row["expired"] else f"until {row['expires_at']}"
        typer.echo(f"{row['code']}  {shown(row['group_id'])}  {shown(row['chat_name'] or '')}  ({state})")
        typer.echo(f"    {shown(row['first_sender'])}: {text}")
    typer.echo("`claw groups approve CODE` lets a chat in; `claw groups block GROUP` refuses it")


@groups_cli.command("approve")
def groups_approve(code: Annotated[str, typer.Argument(help="a pairing code, or a group id")]) -> None:
    """Let a waiting (or blocked) chat in; what it sent meanwhile is answered now."""
    path = f"{group_path(code)}/approve" if ":" in code else f"/v1/pairings/{code}/approve"
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
                raise fail(f"claw: no chat waits with code {group!r}; give its group id", EXIT_USAGE)
            group = codes[group.upper()]
        result = checked(client.post(f"{group_path(group)}/block"))
    typer.echo(f"{result['group_id']} blocked")


@groups_cli.command("personality")
def groups_personality(
    group: GroupArgument,
    edit: Annotated[bool, typer.Option("--edit", help="edit it in $EDITOR and save")] = False,
) -> None:
    """Show a group's personality (its CLAUDE.md), or edit it."""
    path = f"{group_path(group_id(group))}/personality"
    with api_client(client_settings()) as client:
        current = checked(client.get(path))
        if not edit:
            typer.echo(f"# source: {current['source']}, {current['previous_versions']} previous version(s)")
            typer.echo(current["text"])
            return
        # click's editor: $VISUAL, $EDITOR, else a default; None when the file was not saved
        try:
            edited = click.edit(current["text"], extension=".md", require_save=True)
        except click.ClickException as exc:  # the editor failed or does not exist
            raise fail(f"claw: {exc.format_message()}; nothing saved (set $EDITOR to an editor "
                       "that works)") from None
        if edited is None or edited.strip() == current["text"].strip():
            typer.echo("unchanged")
            return
        if not edited.strip():
            raise fail("claw: the edited personality is empty; nothing saved")
        saved = checked(client.put(path, json={"text": edited}))
        typer.echo(f"saved; {saved['previous_versions']} previous version(s) kept")


@cli.command()
def usage(group: Annotated[Optional[str], typer.Argument(help=f"one group ({GROUP_HELP}); all when omitted")] = None) -> None:
    """Tokens and cost per group."""
    with api_client(client_settings()) as client:
        if group:
            rows = [checked(client.get(f"{group_path(group_id(group))}/usage"))]
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
def groups_failed(group: GroupArgument) -> None:
    """Messages set aside because their turn kept failing, and why."""
    target = group_id(group)
    with api_client(client_settings()) as client:
        rows = checked(client.get(f"{group_path(target)}/failed"))["messages"]
    if not rows:
        typer.echo(f"no set-aside messages in {target}")
        return
    for row in rows:
        text = shown(row["text"])
        text = text if len(text) <= 70 else text[:69] + "…"
        typer.echo(f"#{row['id']}  {row['created_at']}  {shown(row['sender'])}: {text}")
        typer.echo(f"    set aside {row['set_aside_at']}: {row['set_aside_reason']}")
    typer.echo(f"{len(rows)} message(s); `claw groups retry {target}` puts them back")


@groups_cli.command("retry")
def groups_retry(
    group: GroupArgument,
    message_ids: Annotated[Optional[list[int]], typer.Option("--id", help="only this message (repeatable)")] = None,
) -> None:
    """Put set-aside messages back, to be answered by the group's next turn."""
    target = group_id(group)
    body = {"message_ids": message_ids} if message_ids else {}
    with api_client(client_settings()) as client:
        result = checked(client.post(f"{group_path(target)}/failed/retry", json=body))
    count = len(result["retried"])
    typer.echo(f"{count} message(s) put back in {target}" if count else f"nothing set aside in {target}")

"""`claw schedules list|add|rm`: a running stack's schedules, through its HTTP API."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from claw.cli.common import api_client, checked, cli, client_settings

schedules_cli = typer.Typer(help="Reminders and tasks the assistant runs on its own.", no_args_is_help=True)
cli.add_typer(schedules_cli, name="schedules")


@schedules_cli.command("list")
def schedules_list(
    group_id: Annotated[Optional[str], typer.Argument(help="one group (e.g. http:team); all when omitted")] = None,
    all_: Annotated[bool, typer.Option("--all", help="finished and cancelled ones too")] = False,
) -> None:
    """List schedules, soonest first."""
    params: dict[str, str | bool] = {"include_inactive": all_}
    if group_id:
        params["group_id"] = group_id
    with api_client(client_settings()) as client:
        rows = checked(client.get("/v1/schedules", params=params))["schedules"]
    if not rows:
        typer.echo("no schedules")
    for row in rows:
        typer.echo(f"{row['group_id']}  {row['description']}")


@schedules_cli.command("add")
def schedules_add(
    group_id: Annotated[str, typer.Argument(help="the group, e.g. http:team")],
    spec: Annotated[str, typer.Argument(help="when: 'in 10 minutes', 'daily 09:00', 'weekly MON 09:00', '0 9 * * MON', …")],
    text: Annotated[str, typer.Argument(help="the reminder, or the request for the assistant")] = "",
    kind: Annotated[str, typer.Option(help="reminder | agent_prompt | summary")] = "reminder",
    tz: Annotated[Optional[str], typer.Option("--tz", help="IANA timezone; the group's by default")] = None,
) -> None:
    """Add a schedule to a group."""
    body = {"group_id": group_id, "kind": kind, "spec": spec, "text": text, "timezone": tz}
    with api_client(client_settings()) as client:
        row = checked(client.post("/v1/schedules", json=body))
    typer.echo(f"added {row['description']}")


@schedules_cli.command("rm")
def schedules_rm(schedule_id: Annotated[int, typer.Argument(help="the schedule's number")]) -> None:
    """Cancel a schedule."""
    with api_client(client_settings()) as client:
        row = checked(client.delete(f"/v1/schedules/{schedule_id}"))
    typer.echo(f"cancelled {row['description']}")

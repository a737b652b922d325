"""`claw schedules list|add|rm|pause|resume`: a running stack's schedules, through its HTTP API."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from claw.cli.common import GROUP_HELP, api_client, checked, cli, client_settings, group_id
from claw.db.models import MAX_ID

schedules_cli = typer.Typer(help="Reminders and tasks the assistant runs on its own.", no_args_is_help=True)
cli.add_typer(schedules_cli, name="schedules")

ScheduleId = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="the schedule's number (see `claw schedules list`)")]


@schedules_cli.command("list")
def schedules_list(
    group: Annotated[Optional[str], typer.Argument(help=f"one group ({GROUP_HELP}); all when omitted")] = None,
    all_: Annotated[bool, typer.Option("--all", help="finished and cancelled ones too")] = False,
) -> None:
    """List schedules, soonest first."""
    params: dict[str, str | bool] = {"include_inactive": all_}
    if group:
        params["group_id"] = group_id(group)
    with api_client(client_settings()) as client:
        rows = checked(client.get("/v1/schedules", params=params))["schedules"]
    if not rows:
        typer.echo("no schedules")
    for row in rows:
        typer.echo(f"{row['group_id']}  {row['description']}")


@schedules_cli.command("add")
def schedules_add(
    group: Annotated[str, typer.Argument(help=GROUP_HELP)],
    spec: Annotated[str, typer.Argument(help="when: 'in 10 minutes', 'daily 09:00', 'weekly MON 09:00', '0 9 * * MON', …")],
    text: Annotated[str, typer.Argument(help="the reminder, or the request for the assistant")] = "",
    kind: Annotated[str, typer.Option(help="reminder | agent_prompt | summary")] = "reminder",
    tz: Annotated[Optional[str], typer.Option("--tz", help="IANA timezone; the group's by default")] = None,
) -> None:
    """Add a schedule to a group."""
    body = {"group_id": group_id(group), "kind": kind, "spec": spec, "text": text, "timezone": tz}
    with api_client(client_settings()) as client:
        row = checked(client.post("/v1/schedules", json=body))
    typer.echo(f"added {row['description']}")


def _state(row: dict[str, Any]) -> str:
    if row["paused"]:
        return "paused"
    if row["enabled"]:
        return "active"
    return "cancelled" if row["cancelled"] else "finished"


@schedules_cli.command("rm")
def schedules_rm(schedule_id: ScheduleId) -> None:
    """Cancel a schedule."""
    with api_client(client_settings()) as client:
        before = checked(client.get(f"/v1/schedules/{schedule_id}"))
        if not before["enabled"]:
            typer.echo(f"schedule #{schedule_id} was already {_state(before)}: {before['description']}")
            return
        row = checked(client.delete(f"/v1/schedules/{schedule_id}"))
    typer.echo(f"cancelled {row['description']}")


@schedules_cli.command("pause")
def schedules_pause(schedule_id: ScheduleId) -> None:
    """Stop a schedule from firing until `claw schedules resume`."""
    with api_client(client_settings()) as client:
        row = checked(client.post(f"/v1/schedules/{schedule_id}/pause"))
    typer.echo(f"paused {row['description']}")


@schedules_cli.command("resume")
def schedules_resume(schedule_id: ScheduleId) -> None:
    """Let a paused schedule fire again (runs missed while paused are skipped)."""
    with api_client(client_settings()) as client:
        row = checked(client.post(f"/v1/schedules/{schedule_id}/resume"))
    typer.echo(f"resumed {row['description']}")

"""`claw outbox [list] [--group G]` · `claw outbox retry ID|--group G`: replies not delivered.

Reads and writes the database directly (no API needed): a reply that failed for good stays
``failed`` there, and retrying it only makes it due again; the stack's sweeper, or the send
task queued here when Redis answers, delivers it in its chat's order.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from claw.cli.common import EXIT_USAGE, GROUP_HELP, cli, client_settings, fail, group_id

if TYPE_CHECKING:
    from claw.db.models import Outbox

outbox_cli = typer.Typer(help="Replies not yet delivered: list them, retry failed ones.")
cli.add_typer(outbox_cli, name="outbox")

GroupOption = Annotated[Optional[str], typer.Option("--group", "-g", help=f"one group: {GROUP_HELP}")]


@outbox_cli.callback(invoke_without_command=True)
def outbox_default(ctx: typer.Context, group: GroupOption = None) -> None:
    """Without a subcommand: list the replies not delivered."""
    if ctx.invoked_subcommand is None:
        outbox_list(group)


@outbox_cli.command("list")
def outbox_list(group: GroupOption = None) -> None:
    """Replies pending, being sent or failed, by group and in the order they will go out."""
    from claw.db import read_session
    from claw.db.models import Group, utcnow
    from claw.pipeline.outbox import unsent_rows

    target = group_id(group) if group else None
    client_settings()
    with read_session() as session:
        if target is not None and session.get(Group, target) is None:
            raise fail(f"claw: unknown group {target!r}")  # not "every reply is delivered"
        rows = unsent_rows(session, target)
    if not rows:
        typer.echo("every reply is delivered")
        return
    typer.echo(f"{'id':>7}  {'group':<28} {'status':<8} {'tries':>5}  {'next try':<10} "
               f"{'failing for':<11} error")
    now = utcnow()
    for row in rows:
        typer.echo(
            f"{row.id:>7}  {row.group_id:<28} {row.status:<8} {row.attempts:>5}  "
            f"{_next_try(row, now):<10} {_age(row.first_failed_at, now):<11} "
            f"{(row.last_error or '')[:70]}"
        )


@outbox_cli.command("retry")
def outbox_retry(
    outbox_id: Annotated[Optional[int], typer.Argument(help="the reply's id (see `claw outbox`)")] = None,
    group: GroupOption = None,
) -> None:
    """Try failed replies again now (one by id, or all of a group), keeping their chat's order.

    Replies waiting out a backoff are made due now as well.
    """
    from sqlalchemy import func, select

    from claw.db import write_session
    from claw.db.models import Outbox
    from claw.pipeline.outbox import retry

    if (outbox_id is None) == (group is None):
        raise fail("claw: give a reply id or --group, not both", EXIT_USAGE)
    group = group_id(group) if group else None
    client_settings()
    with write_session() as session:
        ids = retry(session, outbox_id=outbox_id, group_id=group)
        one_per_chat = session.scalars(
            select(func.min(Outbox.id)).where(Outbox.id.in_(ids)).group_by(Outbox.group_id)
        ).all()
    if not ids:
        raise fail(f"claw: no failed or waiting reply {f'in {group}' if group else f'with id {outbox_id}'}")
    queued = _queue(sorted(one_per_chat))
    how = "now" if queued else "by the sweeper when the stack runs"
    typer.echo(f"{len(ids)} repl{'y' if len(ids) == 1 else 'ies'} due again ({', '.join(map(str, ids))}); "
               f"sent {how}")


def _queue(outbox_ids: list[int]) -> bool:
    """Queue a send per chat; each delivers its chat's oldest reply first."""
    from claw.pipeline.dispatch import enqueue_send

    return all([enqueue_send(outbox_id) for outbox_id in outbox_ids]) if outbox_ids else False


def _next_try(row: Outbox, now: datetime) -> str:
    from claw.pipeline.outbox import as_utc

    if row.status != "pending":
        return "-"
    if row.next_attempt_at is None or as_utc(row.next_attempt_at) <= now:
        return "due"
    return "in " + _seconds((as_utc(row.next_attempt_at) - now).total_seconds())


def _age(moment: datetime | None, now: datetime) -> str:
    from claw.pipeline.outbox import as_utc

    return "-" if moment is None else _seconds((now - as_utc(moment)).total_seconds())


def _seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"

"""The `claw` command (typer). One module per area; each registers its subcommands."""

from pydantic import ValidationError

from claw.cli import bench, chaos, chat, groups, memory, outbox, sandbox, schedules, stack, worker  # noqa: F401  (registers the commands)
from claw.cli.common import cli, fail
from claw.config import get_settings

__all__ = ["cli", "main"]


def main() -> None:
    try:
        get_settings()  # settings that cannot work are refused before any command starts
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        fail(f"claw: bad settings: {reasons}")
        raise SystemExit(2) from None
    cli()

"""The `claw` command (typer). One module per area; each registers its subcommands."""

from pydantic import ValidationError

from claw.cli import bench, chaos, chat, groups, memory, outbox, sandbox, schedules, send, stack, worker  # noqa: F401  (registers the commands)
from claw.cli.common import EXIT_USAGE, cli, fail, settings_problem
from claw.config import get_settings

__all__ = ["cli", "main"]


def main() -> None:
    try:
        get_settings()  # settings that cannot work are refused before any command starts
    except ValidationError as exc:
        raise SystemExit(fail(f"claw: {settings_problem(exc)}").exit_code and EXIT_USAGE) from None
    cli()

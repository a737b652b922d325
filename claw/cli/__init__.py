"""The `claw` command (typer). One module per area; each registers its subcommands."""

from claw.cli import bench, chaos, chat, groups, memory, sandbox, schedules, stack  # noqa: F401  (registers the commands)
from claw.cli.common import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli()

"""`claw memory search|list`: a group's long-term memory, read from the workspace files.

Works without a running stack: the files are the truth and the index is rebuilt as needed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Optional
from zoneinfo import ZoneInfo

import typer

from claw.cli.common import EXIT_USAGE, GROUP_HELP, cli, client_settings, fail, group_id
from claw.memory.files import CATEGORIES

if TYPE_CHECKING:
    from claw.memory import GroupMemory

memory_cli = typer.Typer(help="A group's long-term memory.", no_args_is_help=True)
cli.add_typer(memory_cli, name="memory")


def _memory(group: str) -> GroupMemory:
    """The group's memory in the workspace of the stack (run.json), or of the settings;
    imported here, so that `claw up` (one process for the whole life of the stack) does not
    carry the memory and database modules."""
    from claw.memory import GroupMemory
    from claw.workspace import group_dir_name

    settings = client_settings()
    target = group_id(group)
    try:
        group_dir_name(target)
    except ValueError as exc:
        raise fail(f"claw: {exc}", EXIT_USAGE) from None
    return GroupMemory(workspace=settings.workspace, index_dir=settings.memory_index_dir,
                       group_id=target, tz=ZoneInfo(settings.tz))


def _has_memory(memory: GroupMemory) -> bool:
    """Whether there is anything to read: a group without memory files is answered without
    making an index for it (a read-only command leaves no trace)."""
    return memory.root.is_dir() or memory.global_root.is_dir()


@memory_cli.command("search")
def memory_search(
    group: Annotated[str, typer.Argument(help=GROUP_HELP)],
    query: Annotated[str, typer.Argument(help="words to look for; prefixes match")],
    limit: Annotated[int, typer.Option(help="most results")] = 10,
) -> None:
    """Search a group's memory (and the global memory), best first."""
    memory = _memory(group)
    hits = memory.search(query, limit=limit, now=datetime.now(UTC)) if _has_memory(memory) else []
    if not hits:
        typer.echo("nothing found")
    for hit in hits:
        typer.echo(f"{memory.shown_date(hit.written_at)}  {hit.file}  {' '.join(hit.snippet.split())}")


@memory_cli.command("list")
def memory_list(
    group: Annotated[str, typer.Argument(help=GROUP_HELP)],
    category: Annotated[Optional[str], typer.Option(help=f"one of {', '.join(CATEGORIES)}")] = None,
) -> None:
    """List a group's memory files (and the global ones) with their entry counts."""
    memory = _memory(group)
    if category is not None and category not in CATEGORIES:
        raise fail(f"claw: unknown category {category!r}; use one of: {', '.join(CATEGORIES)}", EXIT_USAGE)
    files = memory.files(category) if _has_memory(memory) else []
    if not files:
        typer.echo("no memories")
    for f in files:
        typer.echo(f"{f.file}  {f.entries} {'entry' if f.entries == 1 else 'entries'}  "
                   f"latest {memory.shown_date(f.last_written)}  ({f.topic})")

"""Memory tools: save_memory, search_memory, list_memories, curate_memory.

The group is the turn's (ToolContext), never the model's to choose: a group reads its own and
the global memory, and writes its own; only a main group writes the global memory.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from claw.agent.tools.registry import ToolContext, ToolError, tool
from claw.db.models import utcnow
from claw.memory import GroupMemory, MemoryRefused

Scope = Annotated[
    Literal["group", "global"],
    Field(description="'group' (this group's memory) or 'global' (shared by every group; main group only)"),
]


def group_memory(ctx: ToolContext) -> GroupMemory:
    return GroupMemory(workspace=ctx.workspace, index_dir=ctx.settings.memory_index_dir,
                       group_id=ctx.group_id, is_main=ctx.is_main, tz=ZoneInfo(ctx.zone))


@tool
def save_memory(
    ctx: ToolContext,
    category: Annotated[
        Literal["topics", "people", "daily"],
        Field(description="'topics' for facts and decisions, 'people' for a person, 'daily' for today's log"),
    ],
    topic: Annotated[str, Field(max_length=200, description="the topic or the person's name: one file per topic")],
    content: Annotated[str, Field(min_length=1, description="what to remember, complete enough to make sense later")],
    scope: Scope = "group",
) -> str:
    """Remember something for later turns: appended, timestamped, to a memory file of this group.
    Use it when someone asks you to remember something, or tells you a lasting fact."""
    try:
        where = group_memory(ctx).save(category, topic, content, scope=scope, now=utcnow(),
                                       marker=ctx.journal.marker if ctx.journal else None)
    except MemoryRefused as exc:
        raise ToolError(str(exc)) from None
    return f"I'll remember that: {content.strip()} (saved in {where})"


@tool
def search_memory(
    ctx: ToolContext,
    query: Annotated[str, Field(min_length=1, max_length=500, description="words to look for; prefixes match")],
    limit: Annotated[int, Field(ge=1, le=20, description="most results to return")] = 8,
) -> str:
    """Search this group's memory (and the global memory): best matches first, recent ones
    ranked up, each with its file and date."""
    memory = group_memory(ctx)
    hits = memory.search(query, limit=limit, now=utcnow())
    subject = query.strip().rstrip("?")
    if not hits:
        return f"I don't remember anything about {subject}."
    lines = [f"- {' '.join(h.snippet.split())} ({h.file}, {memory.shown_date(h.written_at)})" for h in hits]
    return f"Here is what I remember about {subject}:\n" + "\n".join(lines)


@tool
def list_memories(
    ctx: ToolContext,
    category: Annotated[
        Literal["all", "topics", "people", "daily"], Field(description="which kind of memory file to list")
    ] = "all",
) -> str:
    """List the memory files this group can read, with how many entries each has and when the
    latest was written."""
    memory = group_memory(ctx)
    try:
        files = memory.files(None if category == "all" else category)
    except MemoryRefused as exc:
        raise ToolError(str(exc)) from None
    if not files:
        return "No memories saved yet." if category == "all" else f"No {category} memories saved yet."
    lines = [f"- {f.file} ({f.topic}): {f.entries} {'entry' if f.entries == 1 else 'entries'}, "
             f"latest {memory.shown_date(f.last_written)}" for f in files]
    return "Memory files:\n" + "\n".join(lines)


@tool
def curate_memory(
    ctx: ToolContext,
    content: Annotated[str, Field(min_length=1, description="the whole new MEMORY.md, in markdown")],
    scope: Scope = "group",
) -> str:
    """Rewrite MEMORY.md, the curated summary that is in your system prompt every turn: keep
    what still matters, merge duplicates, drop what is outdated. The previous version is kept."""
    try:
        group_memory(ctx).curate(content, scope=scope, now=utcnow())
    except MemoryRefused as exc:
        raise ToolError(str(exc)) from None
    which = "The global MEMORY.md" if scope == "global" else "MEMORY.md"
    return f"{which} is rewritten ({len(content.strip())} characters); the previous version is kept."

"""The update_personality tool: the agent edits its own CLAUDE.md for this group.

Idempotent by content, so a turn redone after it ran changes nothing more: appending the line
that is already the last one, or replacing with the text already there, is a no-op.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from claw.agent.tools.registry import ToolContext, ToolError, tool
from claw.personality import MAX_PERSONALITY_CHARS, load_personality, save_personality


@tool
def update_personality(
    ctx: ToolContext,
    content: Annotated[str, Field(description="the text to add, or the whole new personality")],
    mode: Annotated[
        Literal["append", "replace"],
        Field(description="append a line to the current personality, or replace it entirely"),
    ] = "append",
) -> str:
    """Change how you behave in this group from now on (your CLAUDE.md for this group).
    Previous versions are kept. Use it when someone asks you to behave differently."""
    if mode == "append":
        current = load_personality(ctx.workspace, ctx.group_id).rstrip()
        line = f"- {content.strip()}"
        # Already the last line: a redone call (or the same wish twice) adds nothing.
        new = f"{current}\n" if current.endswith(f"\n{line}") else f"{current}\n{line}\n"
    else:
        new = content.strip() + "\n"
    if len(new) > MAX_PERSONALITY_CHARS:
        raise ToolError(f"personality would be {len(new)} characters; the limit is {MAX_PERSONALITY_CHARS}")
    save_personality(ctx.workspace, ctx.group_id, new)
    return "Personality updated: " + (content.strip() if mode == "append" else "replaced")

"""The save_memory action: sandboxed code appends to its group's memory (global: main only).

The same service call as the save_memory tool (claw.memory.GroupMemory.save), with the
requesting group's identity and main flag from the host, never from the request.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from claw.db import read_session
from claw.db.models import utcnow
from claw.memory import GroupMemory, MemoryRefused
from claw.sandbox.ipc.actions import ActionContext, ActionError, register
from claw.scheduler import group_timezone


class SaveMemoryArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Literal["topics", "people", "daily"]
    topic: str = Field(default="notes", max_length=200)
    content: str = Field(min_length=1, max_length=8000)
    scope: Literal["group", "global"] = "group"


def save_memory(ctx: ActionContext, args: SaveMemoryArgs) -> dict[str, Any]:
    # Dated in the group's timezone, as the save_memory tool and schedules date things.
    with read_session() as session:
        tz_name = group_timezone(session, ctx.identity.group_id, ctx.settings.tz)
    memory = GroupMemory(
        workspace=ctx.settings.workspace, index_dir=ctx.settings.memory_index_dir,
        group_id=ctx.identity.group_id, is_main=ctx.identity.is_main, tz=ZoneInfo(tz_name),
    )
    try:
        where = memory.save(args.category, args.topic, args.content, scope=args.scope, now=utcnow(),
                            marker=ctx.journal.marker if ctx.journal else None)
    except MemoryRefused as exc:
        raise ActionError(str(exc)) from None
    return {"saved_in": where}


register("save_memory", SaveMemoryArgs, save_memory, priority=20)

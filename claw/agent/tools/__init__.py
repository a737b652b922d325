"""The agent's tools and the registry that describes and runs them."""

from __future__ import annotations

from functools import lru_cache

from claw.agent.tools.code import run_code
from claw.agent.tools.memory import curate_memory, list_memories, save_memory, search_memory
from claw.agent.tools.personality import update_personality
from claw.agent.tools.registry import (
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolResult,
    journal_result,
    tool,
)
from claw.agent.tools.scheduling import cancel_task, list_tasks, schedule_task, update_task
from claw.agent.tools.workspace_files import list_files, read_file, write_file

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "default_registry",
    "journal_result",
    "tool",
]


@lru_cache(maxsize=1)
def default_registry() -> ToolRegistry:
    """The tools every group's agent gets (tools are stateless: one registry per process)."""
    return ToolRegistry([
        update_personality,
        schedule_task, list_tasks, cancel_task, update_task,
        save_memory, search_memory, list_memories, curate_memory,
        run_code, read_file, write_file, list_files,
    ])

"""The agent's tools and the registry that describes and runs them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

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
from claw.agent.tools.web import web_fetch, web_search
from claw.agent.tools.workspace_files import list_files, read_file, write_file
from claw.config import Settings
from claw.webtools import web_enabled

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "default_registry",
    "registry_for",
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
        web_fetch, web_search,
    ])


@lru_cache(maxsize=4)
def _registry_without(left_out: frozenset[str]) -> ToolRegistry:
    return ToolRegistry(t for name, t in default_registry().tools.items() if name not in left_out)


def registry_for(settings: Settings, group_settings: Mapping[str, Any] | None = None) -> ToolRegistry:
    """The tools one group's turn offers: web_search only with a search provider configured,
    neither web tool for a group whose settings switch the web off. The same few registries
    are reused, so a group's tool list stays the same from turn to turn (prompt caching)."""
    left_out: set[str] = set()
    if not settings.search_provider:
        left_out.add("web_search")
    if not web_enabled(group_settings):
        left_out |= {"web_fetch", "web_search"}
    return _registry_without(frozenset(left_out))

"""The agent's tools and the registry that describes and runs them."""

from __future__ import annotations

from claw.agent.tools.personality import update_personality
from claw.agent.tools.registry import Tool, ToolContext, ToolError, ToolRegistry, ToolResult, tool

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "default_registry",
    "tool",
]


def default_registry() -> ToolRegistry:
    """The tools every group's agent gets."""
    return ToolRegistry([update_personality])

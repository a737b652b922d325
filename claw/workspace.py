"""Where each group's files live: workspace/groups/<escaped group id>/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote


def group_dir_name(group_id: str) -> str:
    """A filesystem-safe, reversible name: every character outside [A-Za-z0-9_.-] is escaped.

    A group id is ``<channel>:<chat_id>``; requiring the (escaped) ':' means the name can never
    be '.' or '..', so no group's directory is the workspace root or outside it.
    """
    channel, sep, _ = group_id.partition(":")
    if not sep or not channel:
        raise ValueError(f"not a group id (want <channel>:<chat_id>): {group_id!r}")
    return quote(group_id, safe="")


def group_dir(workspace: Path, group_id: str) -> Path:
    return workspace / "groups" / group_dir_name(group_id)


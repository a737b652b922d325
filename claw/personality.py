"""A group's personality: its CLAUDE.md, the system prompt of every turn.

Fallback chain (NanoClaw): the group's CLAUDE.md, then workspace/CLAUDE.md, then a built-in
default. Writes are atomic (temp file + rename) and keep the previous version, so a bad
self-edit can always be undone.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from claw.workspace import group_dir

DEFAULT_PERSONALITY = (
    "You are claw, a helpful personal assistant living in a group chat. "
    "Answer briefly and address people by name when it helps."
)
MAX_PERSONALITY_CHARS = 20_000
HISTORY_DIR = ".personality"


def personality_path(workspace: Path, group_id: str) -> Path:
    return group_dir(workspace, group_id) / "CLAUDE.md"


def load_personality(workspace: Path, group_id: str) -> str:
    for path in (personality_path(workspace, group_id), workspace / "CLAUDE.md"):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return DEFAULT_PERSONALITY


def personality_source(workspace: Path, group_id: str) -> str:
    """Which link of the fallback chain is in force: "group", "workspace" or "default"."""
    if personality_path(workspace, group_id).is_file():
        return "group"
    return "workspace" if (workspace / "CLAUDE.md").is_file() else "default"


def save_personality(workspace: Path, group_id: str, text: str) -> Path:
    """Atomically replace the group's CLAUDE.md, keeping the old one in .personality/.

    Saving the text that is already there does nothing, so a redone update_personality keeps
    exactly one previous version.
    """
    path = personality_path(workspace, group_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return path
    if path.is_file():
        history = path.parent / HISTORY_DIR
        history.mkdir(exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        os.replace(path, history / f"CLAUDE.{stamp}.md")
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".CLAUDE.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def previous_versions(workspace: Path, group_id: str) -> list[Path]:
    history = personality_path(workspace, group_id).parent / HISTORY_DIR
    return sorted(history.glob("CLAUDE.*.md")) if history.is_dir() else []

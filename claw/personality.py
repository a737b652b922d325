"""A group's personality: its CLAUDE.md, the system prompt of every turn.

Fallback chain (NanoClaw): the group's CLAUDE.md, then workspace/CLAUDE.md, then a built-in
default. Writes are atomic (temp file + rename) and keep the previous version, so a bad
self-edit can always be undone.

The file lives in the group's host-owned folder, out of the sandbox's reach, but it is still
read defensively (claw/safe_fs.py), because a hand edit or an older workspace can leave
anything there: a symlink or FIFO is not a personality (the next link of the chain is used),
bad bytes are replaced, and a huge file is clipped. It can degrade a prompt, never block a group.
"""

from __future__ import annotations

import logging
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from claw import safe_fs
from claw.workspace import group_dir

log = logging.getLogger(__name__)

DEFAULT_PERSONALITY = (
    "You are claw, a helpful personal assistant living in a group chat. "
    "Answer briefly and address people by name when it helps."
)
MAX_PERSONALITY_CHARS = 20_000
#: read at most this much of a CLAUDE.md (four bytes per character at worst in UTF-8)
MAX_PERSONALITY_BYTES = 4 * MAX_PERSONALITY_CHARS
FILE_NAME = "CLAUDE.md"
HISTORY_DIR = ".personality"


def personality_path(workspace: Path, group_id: str) -> Path:
    return group_dir(workspace, group_id) / FILE_NAME


def _read(folder: Path) -> str | None:
    text = safe_fs.read_text(folder, FILE_NAME, MAX_PERSONALITY_BYTES + 1)
    if text is not None and len(text) > MAX_PERSONALITY_CHARS:
        log.warning("personality_clipped folder=%s chars=%d", folder.name, MAX_PERSONALITY_CHARS)
        text = text[:MAX_PERSONALITY_CHARS]
    return text


def load_personality(workspace: Path, group_id: str) -> str:
    for folder in (group_dir(workspace, group_id), workspace):
        text = _read(folder)
        if text is not None:
            return text
    return DEFAULT_PERSONALITY


def personality_source(workspace: Path, group_id: str) -> str:
    """Which link of the fallback chain is in force: "group", "workspace" or "default"."""
    if safe_fs.is_regular(group_dir(workspace, group_id), FILE_NAME):
        return "group"
    return "workspace" if safe_fs.is_regular(workspace, FILE_NAME) else "default"


def save_personality(workspace: Path, group_id: str, text: str) -> Path:
    """Atomically replace the group's CLAUDE.md, keeping the old one in .personality/.

    Saving the text that is already there does nothing, so a redone update_personality keeps
    exactly one previous version.
    """
    folder = group_dir(workspace, group_id)
    folder.mkdir(parents=True, exist_ok=True)
    if _read(folder) == text:
        return folder / FILE_NAME
    with safe_fs.opened(safe_fs.open_root(folder)) as group:
        if safe_fs.is_regular(folder, FILE_NAME):
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            with safe_fs.opened(safe_fs.make_dirs(group, [HISTORY_DIR])) as history:
                os.rename(FILE_NAME, f"CLAUDE.{stamp}.md", src_dir_fd=group, dst_dir_fd=history)
        # rename() replaces whatever else is at the name (a symlink is replaced, not followed)
        safe_fs.replace_file(group, FILE_NAME, text.encode("utf-8"))
    return folder / FILE_NAME


def previous_versions(workspace: Path, group_id: str) -> list[Path]:
    folder = group_dir(workspace, group_id)
    try:
        with safe_fs.opened(safe_fs.open_root(folder)) as group, \
                safe_fs.opened(safe_fs.open_beneath(group, HISTORY_DIR, os.O_RDONLY | os.O_DIRECTORY)) as history, \
                os.scandir(history) as entries:
            return sorted(
                folder / HISTORY_DIR / entry.name for entry in entries
                if entry.name.startswith("CLAUDE.") and entry.name.endswith(".md")
                and stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode)
            )
    except OSError:  # missing, a symlink, or not a folder
        return []

"""read_file, write_file, list_files: the group's workspace, the same files run_code sees.

Paths are relative to the group's directory (what sandboxed code sees as /workspace); '..',
other absolute paths and symlinks that lead out are refused (claw/sandbox/paths.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from claw.agent.tools.registry import ToolContext, ToolError, tool
from claw.sandbox.base import hand_over, sandbox_owner
from claw.sandbox.errors import WorkspacePathError
from claw.sandbox.paths import open_regular, relative, resolve
from claw.workspace import group_dir

MAX_READ_BYTES = 64 * 1024
MAX_WRITE_BYTES = 256 * 1024
MAX_LIST_ENTRIES = 500

PathArg = Annotated[str, Field(description="path relative to the workspace, e.g. 'notes/todo.txt'")]


def _root(ctx: ToolContext) -> Path:
    root = group_dir(ctx.workspace, ctx.group_id)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _resolve(root: Path, path: str) -> Path:
    try:
        return resolve(root, path)
    except WorkspacePathError as exc:
        raise ToolError(str(exc)) from None


@tool
def read_file(ctx: ToolContext, path: PathArg) -> str:
    """Read a text file from this group's workspace (at most 64 KiB)."""
    root = _root(ctx)
    real = _resolve(root, path)
    try:
        fd = open_regular(real, os.O_RDONLY)
    except FileNotFoundError:
        raise ToolError(f"no file {path!r} in the workspace; list_files shows what is there") from None
    except (WorkspacePathError, OSError) as exc:
        raise ToolError(f"cannot read {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        size = os.stat(real).st_size
        raise ToolError(
            f"{path!r} is {size:,} bytes; read_file reads at most {MAX_READ_BYTES:,}. "
            "Use run_code to look at parts of it."
        )
    if b"\x00" in data:
        raise ToolError(f"{path!r} is a binary file; use run_code to inspect it")
    return data.decode("utf-8", errors="replace")


@tool
def write_file(
    ctx: ToolContext,
    path: PathArg,
    content: Annotated[str, Field(description="the text to write")],
    mode: Annotated[
        Literal["overwrite", "append"], Field(description="replace the file, or add to its end")
    ] = "overwrite",
) -> str:
    """Write a text file in this group's workspace (at most 256 KiB); folders are created."""
    data = content.encode("utf-8")
    root = _root(ctx)
    real = _resolve(root, path)
    if real == Path(os.path.realpath(root)):
        raise ToolError("give a file name, not the workspace itself")
    owner = sandbox_owner(ctx.settings)
    existing = real.stat().st_size if mode == "append" and real.is_file() else 0
    if existing + len(data) > MAX_WRITE_BYTES:
        raise ToolError(f"the file would be {existing + len(data):,} bytes; the limit is {MAX_WRITE_BYTES:,}")
    _make_parents(root, real, owner)
    real = _resolve(root, path)  # again: a parent might have been a symlink planted meanwhile
    verb = "appended" if mode == "append" else "wrote"
    done = f"{verb} {len(data):,} bytes to {relative(root, real)}"
    if mode == "append" and ctx.journal is not None:
        # A redone call finds where its first run meant to append: if the data is there, the
        # first run wrote it and only its journal entry was lost. (Overwriting is idempotent.)
        start = int(ctx.journal.intent({"append_at": existing})["append_at"])
        if _holds_at(real, start, data):
            return done
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "append" else os.O_TRUNC)
    try:
        fd = open_regular(real, flags)
    except (WorkspacePathError, OSError) as exc:
        raise ToolError(f"cannot write {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    hand_over(real, owner)
    return done


def _holds_at(real: Path, start: int, data: bytes) -> bool:
    try:
        fd = open_regular(real, os.O_RDONLY)
    except (WorkspacePathError, OSError):
        return False
    with os.fdopen(fd, "rb") as handle:
        handle.seek(start)
        return handle.read(len(data) + 1) == data


def _make_parents(root: Path, real: Path, owner: tuple[int, int] | None) -> None:
    base = Path(os.path.realpath(root))
    missing = []
    for parent in real.parents:
        if parent == base or parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        parent.mkdir(exist_ok=True)
        hand_over(parent, owner)


@tool
def list_files(
    ctx: ToolContext,
    path: Annotated[str, Field(description="folder relative to the workspace; '.' for all")] = ".",
    recursive: Annotated[bool, Field(description="include the contents of sub-folders")] = False,
) -> str:
    """List files in this group's workspace, with sizes."""
    root = _root(ctx)
    real = _resolve(root, path)
    if not real.is_dir():
        raise ToolError(f"{path!r} is not a folder in the workspace")
    lines: list[str] = []
    _walk(real, real, recursive, lines)
    if not lines:
        return f"{relative(root, real)}: empty"
    if len(lines) > MAX_LIST_ENTRIES:
        lines = lines[:MAX_LIST_ENTRIES] + [f"[… more than {MAX_LIST_ENTRIES} entries; list a sub-folder]"]
    return "\n".join(lines)


def _walk(top: Path, folder: Path, recursive: bool, lines: list[str]) -> None:
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if len(lines) > MAX_LIST_ENTRIES:
                return
            name = os.path.relpath(entry.path, top)
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                lines.append(f"{name} -> {os.readlink(entry.path)} (symlink)")
            elif stat.S_ISDIR(info.st_mode):
                lines.append(f"{name}/")
                if recursive:
                    _walk(top, Path(entry.path), recursive, lines)
            else:
                lines.append(f"{name} ({info.st_size:,} bytes)")

"""read_file, write_file, list_files: the group's scratch folder, the same files run_code sees.

Paths are relative to the scratch folder (what sandboxed code sees as /workspace); '..' and
other absolute paths are refused (claw/sandbox/paths.py). Sandboxed code writes this folder,
so every access goes through claw/safe_fs.py: no symlink is followed, no FIFO, socket or device
is opened, and sizes are capped.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from claw.agent.tools.registry import ToolContext, ToolError, tool
from claw.safe_fs import (
    UnsafePath,
    make_dirs,
    open_beneath,
    open_for_writing,
    open_regular,
    open_root,
    opened,
)
from claw.sandbox.base import sandbox_owner
from claw.sandbox.errors import SandboxConfigError, WorkspacePathError
from claw.sandbox.layout import ensure_group_layout
from claw.sandbox.paths import workspace_parts
from claw.workspace import SCRATCH_DIR

MAX_READ_BYTES = 64 * 1024
MAX_WRITE_BYTES = 256 * 1024
MAX_LIST_ENTRIES = 500
MAX_LIST_DEPTH = 16
MAX_NAME_SHOWN = 200

PathArg = Annotated[str, Field(description="path relative to the workspace, e.g. 'notes/todo.txt'")]


def _owner(ctx: ToolContext) -> tuple[int, int] | None:
    if ctx.settings.sandbox == "subprocess":
        return None
    try:
        return sandbox_owner(ctx.settings)
    except SandboxConfigError:
        return None


def _root(ctx: ToolContext) -> Path:
    owner = _owner(ctx)
    scratch = ensure_group_layout(ctx.workspace, ctx.group_id, owner) / SCRATCH_DIR
    if not scratch.is_dir():
        scratch.mkdir()
        if owner is not None:
            os.chown(scratch, *owner)
    return scratch


def _parts(path: str) -> list[str]:
    try:
        return workspace_parts(path)
    except WorkspacePathError as exc:
        raise ToolError(str(exc)) from None


def _why(exc: OSError) -> str:
    if isinstance(exc, UnsafePath):
        return str(exc.strerror or exc)
    if exc.errno == errno.ENOTDIR:
        return "a folder on the way is not a folder"
    return exc.strerror or str(exc)


@tool
def read_file(ctx: ToolContext, path: PathArg) -> str:
    """Read a text file from this group's workspace (at most 64 KiB)."""
    parts = _parts(path)
    try:
        with opened(open_root(_root(ctx))) as root, opened(open_regular(root, "/".join(parts) or ".")) as fd:
            size = os.fstat(fd).st_size
            data = os.read(fd, MAX_READ_BYTES + 1)
    except FileNotFoundError:
        raise ToolError(f"no file {path!r} in the workspace; list_files shows what is there") from None
    except OSError as exc:
        raise ToolError(f"cannot read {path!r}: {_why(exc)}") from None
    if len(data) > MAX_READ_BYTES:
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
    parts = _parts(path)
    if not parts:
        raise ToolError("give a file name, not the workspace itself")
    if len(data) > MAX_WRITE_BYTES:
        raise ToolError(f"the file would be {len(data):,} bytes; the limit is {MAX_WRITE_BYTES:,}")
    owner = _owner(ctx)
    try:
        with opened(open_root(_root(ctx))) as root, opened(make_dirs(root, parts[:-1], owner)) as folder:
            with opened(open_for_writing(folder, parts[-1], append=mode == "append")) as fd:
                info = os.fstat(fd)
                if mode == "append" and info.st_size + len(data) > MAX_WRITE_BYTES:
                    raise ToolError(f"the file would be {info.st_size + len(data):,} bytes; "
                                    f"the limit is {MAX_WRITE_BYTES:,}")
                if owner is not None and (info.st_uid, info.st_gid) != owner:
                    os.fchown(fd, *owner)
                if mode == "append" and ctx.journal is not None:
                    # A redone call finds where its first run meant to append: if the data is
                    # there, the first run wrote it and only its journal entry was lost.
                    # (Overwriting is idempotent.)
                    start = int(ctx.journal.intent({"append_at": info.st_size})["append_at"])
                    if _holds_at(folder, parts[-1], start, data):
                        return f"appended {len(data):,} bytes to {'/'.join(parts)}"
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
    except OSError as exc:
        raise ToolError(f"cannot write {path!r}: {_why(exc)}") from None
    verb = "appended" if mode == "append" else "wrote"
    return f"{verb} {len(data):,} bytes to {'/'.join(parts)}"


def _holds_at(folder: int, name: str, start: int, data: bytes) -> bool:
    try:
        with opened(open_regular(folder, name)) as fd:
            return os.pread(fd, len(data) + 1, start) == data
    except OSError:
        return False


@tool
def list_files(
    ctx: ToolContext,
    path: Annotated[str, Field(description="folder relative to the workspace; '.' for all")] = ".",
    recursive: Annotated[bool, Field(description="include the contents of sub-folders")] = False,
) -> str:
    """List files in this group's workspace, with sizes."""
    parts = _parts(path)
    lines: list[str] = []
    try:
        with opened(open_root(_root(ctx))) as root, \
                opened(open_beneath(root, "/".join(parts) or ".", os.O_RDONLY | os.O_DIRECTORY)) as folder:
            _walk(folder, "", recursive, lines, 0)
    except FileNotFoundError:
        raise ToolError(f"{path!r} is not a folder in the workspace") from None
    except OSError as exc:
        raise ToolError(f"{path!r} is not a folder in the workspace ({_why(exc)})") from None
    if not lines:
        return f"{'/'.join(parts) or '.'}: empty"
    if len(lines) > MAX_LIST_ENTRIES:
        lines = lines[:MAX_LIST_ENTRIES] + [f"[… more than {MAX_LIST_ENTRIES} entries; list a sub-folder]"]
    return "\n".join(lines)


def _shown(name: str) -> str:
    """A name as the model may see it: valid UTF-8, no control characters, not too long."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= MAX_NAME_SHOWN else text[:MAX_NAME_SHOWN] + "…"


def _walk(folder: int, prefix: str, recursive: bool, lines: list[str], depth: int) -> None:
    with os.scandir(folder) as listing:
        names = []
        for entry in listing:
            names.append(entry.name)
            if len(names) > 4 * MAX_LIST_ENTRIES:  # a huge folder: list a part of it, quickly
                break
    for name in sorted(names):
        if len(lines) > MAX_LIST_ENTRIES:
            return
        shown = prefix + _shown(name)
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            try:
                target = _shown(os.readlink(name, dir_fd=folder))
            except OSError:
                target = "?"
            lines.append(f"{shown} -> {target} (symlink)")
        elif stat.S_ISDIR(info.st_mode):
            lines.append(f"{shown}/")
            if recursive and depth < MAX_LIST_DEPTH:
                try:
                    child = open_beneath(folder, name, os.O_RDONLY | os.O_DIRECTORY)
                except OSError:
                    continue
                with opened(child):
                    _walk(child, f"{shown}/", recursive, lines, depth + 1)
        elif stat.S_ISREG(info.st_mode):
            lines.append(f"{shown} ({info.st_size:,} bytes)")
        else:
            lines.append(f"{shown} ({'FIFO' if stat.S_ISFIFO(info.st_mode) else 'special file'})")

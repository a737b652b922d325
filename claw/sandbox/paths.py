"""Resolving a path the model gave to a file tool, inside the group's workspace only.

The tools run on the host, so they must not be steered out by what sandboxed code planted:
``..`` and absolute paths are refused outright (except the sandbox's own name for the
workspace, ``/workspace/...``), a symlink is followed only if where it leads is still inside,
and a file is opened O_NOFOLLOW|O_NONBLOCK and checked to be a regular file, so a planted FIFO
or a symlink swapped in at the last moment is refused instead of followed or waited on.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from claw.sandbox.base import WORKSPACE_INSIDE
from claw.sandbox.errors import WorkspacePathError


def resolve(root: Path, path: str) -> Path:
    """The real path of ``path`` under ``root`` (which may not exist yet), or WorkspacePathError."""
    if "\x00" in path:
        raise WorkspacePathError("the path contains a NUL character")
    given = PurePosixPath(path.strip() or ".")
    if given.is_absolute():
        try:
            given = given.relative_to(WORKSPACE_INSIDE)
        except ValueError:
            raise WorkspacePathError(
                f"{path!r} is an absolute path; give a path inside the workspace, like 'notes/todo.txt'"
            ) from None
    if ".." in given.parts:
        raise WorkspacePathError(f"{path!r} contains '..'; paths must stay inside the workspace")
    base = os.path.realpath(root)
    real = os.path.realpath(os.path.join(base, *given.parts))
    if real != base and not real.startswith(base + os.sep):
        raise WorkspacePathError(f"{path!r} is a symlink (or passes one) that leads outside the workspace")
    return Path(real)


def relative(root: Path, real: Path) -> str:
    return os.path.relpath(real, os.path.realpath(root))


def open_regular(real: Path, flags: int, mode: int = 0o644) -> int:
    """Open a resolved path without following a last-moment symlink; regular files only."""
    try:
        fd = os.open(real, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # it became a symlink after it was resolved
            raise WorkspacePathError(f"{real.name} is a symlink; refused") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WorkspacePathError(f"{real.name} is not a regular file")
    return fd

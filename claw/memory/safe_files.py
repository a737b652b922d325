"""Reading and appending memory files without ever following a link out of the workspace.

A group's directory is also the sandbox's /workspace, so code the agent ran may have left a
symlink (``topics/notes.md -> /etc/passwd``), a FIFO or a huge file where a memory file should
be. Host code must not read through, write through or block on any of them: every path is
checked for symlinks from the workspace down, opened with O_NOFOLLOW and O_NONBLOCK, and used
only if it is a regular file.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

#: the most of one memory file that is read (a larger one is indexed up to here)
MAX_READ_BYTES = 8 * 1024 * 1024


class UnsafeFile(OSError):
    """A memory path that is, or lies under, a symlink, or is not a regular file."""


def links_free(base: Path, path: Path) -> bool:
    """Whether no existing component of ``path`` below ``base`` (itself included) is a symlink."""
    try:
        relative = path.relative_to(base)
    except ValueError:
        return False
    current = base
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            return False
    return True


def _regular(handle: BinaryIO, path: Path) -> None:
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        raise UnsafeFile(f"not a regular file: {path.name}")


def read_regular(base: Path, path: Path) -> str | None:
    """The file's text, or None when it is missing, a link, under a link, or not a file."""
    if not links_free(base, path.parent):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # missing, or ELOOP for a symlink
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            _regular(handle, path)
        except UnsafeFile:
            return None
        return handle.read(MAX_READ_BYTES).decode("utf-8", errors="replace")


@contextmanager
def open_append(base: Path, path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for appending under an exclusive lock, its directories made as needed."""
    if not links_free(base, path.parent):
        raise UnsafeFile(f"a directory on the way to {path.name} is a symlink")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise UnsafeFile(f"cannot append to {path.name}: {exc.strerror}") from None
    with os.fdopen(fd, "ab") as handle:
        _regular(handle, path)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

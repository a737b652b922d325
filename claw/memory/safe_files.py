"""Reading and appending memory files without ever following a link or blocking on a FIFO.

Memory lives in the group's host-owned folder (workspace/groups/<group>/memory/), out of the
sandbox's reach since the scratch folder was split off. It is still read defensively, through
claw/safe_fs.py, because a hand edit or a workspace from before that split can leave anything
there (``topics/notes.md -> /etc/passwd``, a FIFO, a huge file): every path is opened
component by component from the workspace down without following a symlink, only a regular
file is used, reads are capped and bad bytes are replaced.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from claw import safe_fs

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


def _relative(base: Path, path: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        raise UnsafeFile(f"{path.name} is not inside the workspace") from None


def read_regular(base: Path, path: Path, max_bytes: int = MAX_READ_BYTES) -> str | None:
    """The file's text (at most ``max_bytes``), or None when it is missing, a link, under a
    link, or not a regular file."""
    try:
        relative = _relative(base, path)
    except UnsafeFile:
        return None
    return safe_fs.read_text(base, relative, max_bytes)


@contextmanager
def open_append(base: Path, path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for appending under an exclusive lock, its directories made as needed."""
    parts = safe_fs.parts_of(_relative(base, path))
    try:
        base.mkdir(parents=True, exist_ok=True)
        with safe_fs.opened(safe_fs.open_root(base)) as root, \
                safe_fs.opened(safe_fs.make_dirs(root, parts[:-1])) as folder:
            fd = safe_fs.open_for_writing(folder, parts[-1], append=True)
    except OSError as exc:
        raise UnsafeFile(f"cannot append to {path.name}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def replace_regular(base: Path, path: Path, data: bytes) -> None:
    """Atomically replace ``path`` (made with its folders as needed); a symlink or FIFO at its
    name is replaced, never written through."""
    parts = safe_fs.parts_of(_relative(base, path))
    try:
        base.mkdir(parents=True, exist_ok=True)
        with safe_fs.opened(safe_fs.open_root(base)) as root, \
                safe_fs.opened(safe_fs.make_dirs(root, parts[:-1])) as folder:
            safe_fs.replace_file(folder, parts[-1], data)
    except OSError as exc:
        raise UnsafeFile(f"cannot write {path.name}: {exc.strerror or exc}") from None

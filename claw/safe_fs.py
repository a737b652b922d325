"""Touching files in a tree that untrusted code can write, without ever being steered by it.

Sandboxed code writes the group's scratch folder (the sandbox's /workspace) and the IPC request
folder, and it may plant anything there: symlinks (also chains longer than PATH_MAX, which
``os.path.realpath`` misjudges), FIFOs, sockets, huge files, or swap one for another between a
check and a use. Host code runs as claw's user (often root), so every host access to such a tree
goes through this module, which holds these rules:

- A path is resolved from a directory descriptor of a trusted root, one component at a time:
  openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) where the kernel has it
  (Linux 5.6+), else openat(O_NOFOLLOW) per component. A symlink anywhere on the way is refused,
  never followed, so no check can be raced: the descriptor that was checked is the one used.
- A name is first opened O_PATH (which opens nothing: no FIFO blocks, no device driver runs),
  then fstat'ed, and only a regular file is re-opened for reading or writing through its
  descriptor. FIFOs, sockets, devices and directories are refused.
- Reads are capped; text is decoded with errors="replace", so bad bytes degrade a prompt and
  never crash a turn.

Host-owned trees (the personality, memory) are read through the same functions: they are not
writable by sandboxed code, but a hand edit or an old workspace may still hold odd files.

    UnsafePath(OSError)         a symlink, a FIFO/socket/device, '..', or over a size cap
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

#: openat2's number on x86_64 and aarch64 (the generic syscall table); elsewhere the fallback
_OPENAT2 = {"x86_64": 437, "aarch64": 437, "arm64": 437}.get(platform.machine())
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: default cap for one read: enough for any note or prompt, small enough never to stall a turn
MAX_READ_BYTES = 8 * 1024 * 1024


class UnsafePath(OSError):
    """A path that is refused: it is or passes a symlink, is not a regular file, or too big."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_have_openat2: bool | None = None if _OPENAT2 else False


def parts_of(relative: str | PurePosixPath) -> list[str]:
    """The components of a relative path; '..', absolute paths and NUL are refused."""
    text = str(relative)
    if "\x00" in text:
        raise UnsafePath(errno.EINVAL, "the path contains a NUL character")
    path = PurePosixPath(text)
    if path.is_absolute():
        raise UnsafePath(errno.EINVAL, f"{text!r} is absolute; a relative path is needed")
    parts = [p for p in path.parts if p != "."]
    if ".." in parts:
        raise UnsafePath(errno.EINVAL, f"{text!r} contains '..'")
    return parts


def _openat2(dirfd: int, path: str, flags: int, mode: int) -> int:
    tmpfile = getattr(os, "O_TMPFILE", 0)  # it includes O_DIRECTORY's bit: compare it whole
    creates = flags & os.O_CREAT or (tmpfile and flags & tmpfile == tmpfile)
    how = _OpenHow(flags, mode if creates else 0, _RESOLVE)
    fd = _libc.syscall(_OPENAT2, dirfd, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


def _walk_open(dirfd: int, parts: list[str], flags: int, mode: int) -> int:
    """The fallback: openat one component at a time, O_NOFOLLOW everywhere."""
    current = os.dup(dirfd)
    try:
        for part in parts[:-1]:
            following = _step(current, part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, 0)
            os.close(current)
            current = following
        return _step(current, parts[-1], flags | os.O_NOFOLLOW, mode)
    finally:
        os.close(current)


def _step(dirfd: int, name: str, flags: int, mode: int) -> int:
    try:
        return os.open(name, flags, mode, dir_fd=dirfd)
    except NotADirectoryError:  # O_DIRECTORY|O_NOFOLLOW on a symlink: say it was a link
        if stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "a symlink", name) from None
        raise


def open_beneath(dirfd: int, relative: str | PurePosixPath, flags: int, mode: int = 0o644) -> int:
    """openat(dirfd, relative) that never follows a symlink and never leaves ``dirfd``.

    A symlink on the way or at the end raises UnsafePath (ELOOP/EXDEV from the kernel); any
    other OSError (ENOENT, ENOTDIR...) is raised as it is.
    """
    global _have_openat2
    parts = parts_of(relative)
    if not parts:
        return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=dirfd)
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        if _have_openat2 is not False:
            try:
                fd = _openat2(dirfd, "/".join(parts), flags, mode)
                _have_openat2 = True
                return fd
            except NotADirectoryError:  # a file, or a symlink met with O_DIRECTORY: the walk says which
                return _walk_open(dirfd, parts, flags, mode)
            except OSError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EPERM) or _have_openat2:
                    raise
                _have_openat2 = False  # no openat2 here (or a seccomp filter refuses it)
        return _walk_open(dirfd, parts, flags, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EXDEV):
            raise UnsafePath(errno.ELOOP, f"{'/'.join(parts)} is or passes a symlink; refused") from None
        raise


def open_root(path: Path) -> int:
    """A directory descriptor of a trusted root (its own last component must not be a link)."""
    try:
        return os.open(path, DIR_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(errno.ELOOP, f"{path.name} is a symlink; refused") from None
        raise


@contextmanager
def opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"),
                       (stat.S_ISBLK, "device")):
        if test(mode):
            return name
    return "special file"


def _reopen(path_fd: int, flags: int) -> int:
    """Open the very inode an O_PATH descriptor holds (no name is looked up again)."""
    return os.open(f"/proc/self/fd/{path_fd}", flags | os.O_CLOEXEC | os.O_NOCTTY)


def open_regular(dirfd: int, relative: str | PurePosixPath, flags: int = os.O_RDONLY) -> int:
    """An existing regular file beneath ``dirfd`` opened with ``flags`` (no O_CREAT here).

    Anything else (FIFO, socket, device, folder) is refused before it is opened for real.
    """
    with opened(open_beneath(dirfd, relative, os.O_PATH)) as path_fd:
        info = os.fstat(path_fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(errno.EINVAL, f"{PurePosixPath(relative).name} is a {kind(info.st_mode)}, not a file")
        return _reopen(path_fd, flags | os.O_NONBLOCK)


def read_bytes(dirfd: int, relative: str | PurePosixPath, max_bytes: int = MAX_READ_BYTES) -> tuple[bytes, int]:
    """Up to ``max_bytes`` of a regular file, and its full size."""
    with opened(open_regular(dirfd, relative)) as fd:
        size = os.fstat(fd).st_size
        chunks, left = [], max_bytes
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), size


def read_text(root: Path, relative: str | PurePosixPath, max_bytes: int = MAX_READ_BYTES) -> str | None:
    """A file's text (bad bytes replaced, at most ``max_bytes``), or None when it is missing or
    refused: a symlink, under one, not a regular file. Never raises for what is on disk."""
    try:
        with opened(open_root(root)) as dirfd:
            data, _ = read_bytes(dirfd, relative, max_bytes)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace")


def is_regular(root: Path, relative: str | PurePosixPath) -> bool:
    try:
        with opened(open_root(root)) as dirfd, opened(open_beneath(dirfd, relative, os.O_PATH)) as fd:
            return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def make_dirs(dirfd: int, parts: list[str], owner: tuple[int, int] | None = None, mode: int = 0o755) -> int:
    """A descriptor of dirfd/parts..., each folder made as needed (and given to ``owner``)."""
    current = os.dup(dirfd)
    try:
        for part in parts_of("/".join(parts)):
            try:
                os.mkdir(part, mode, dir_fd=current)
                made = True
            except FileExistsError:
                made = False
            following = open_beneath(current, part, os.O_RDONLY | os.O_DIRECTORY)
            os.close(current)
            current = following
            if made and owner is not None:
                os.fchown(current, *owner)
        return current
    except BaseException:
        os.close(current)
        raise


def open_for_writing(dirfd: int, relative: str | PurePosixPath, *, append: bool = False,
                     mode: int = 0o644) -> int:
    """A regular file beneath ``dirfd`` opened for writing (created, truncated unless
    ``append``); a symlink, FIFO or other planted thing at its name is refused."""
    parts = parts_of(relative)
    if not parts:
        raise UnsafePath(errno.EISDIR, "a file name is needed")
    extra = os.O_APPEND if append else os.O_TRUNC
    for _ in range(3):
        try:
            return open_regular(dirfd, relative, os.O_WRONLY | extra)
        except FileNotFoundError:
            pass
        try:  # O_EXCL: whatever appears at the name meanwhile makes this fail, not followed
            return open_beneath(dirfd, relative, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NONBLOCK, mode)
        except FileExistsError:
            continue
    raise UnsafePath(errno.EAGAIN, f"{parts[-1]} keeps changing; refused")


def replace_file(dirfd: int, name: str, data: bytes, *, mode: int = 0o644) -> None:
    """Atomically replace ``name`` in the folder ``dirfd`` (temp file + rename in the same folder)."""
    if parts_of(name) != [name]:
        raise UnsafePath(errno.EINVAL, f"{name!r} is not a plain file name")
    temporary = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                 dir_fd=dirfd)
    try:
        with opened(fd):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        os.rename(temporary, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=dirfd)
        except OSError:
            pass
        raise


def remove_tree(dirfd: int, name: str) -> None:
    """Remove ``name`` beneath ``dirfd`` and, if it is a folder, everything in it.

    Without recursion and with two descriptors open at most, however deep the tree: the
    entries of each sub-folder are moved up into the top folder, and the sub-folder, empty,
    is removed (shutil.rmtree recurses once per level and fails on a few thousand levels).
    Nothing is ever followed: links are unlinked, folders opened O_NOFOLLOW.
    """
    try:
        os.unlink(name, dir_fd=dirfd)
        return
    except FileNotFoundError:
        return
    except IsADirectoryError:
        pass
    top = os.open(name, DIR_FLAGS, dir_fd=dirfd)
    try:
        while names := os.listdir(top):
            for entry in names:
                try:
                    os.unlink(entry, dir_fd=top)
                    continue
                except FileNotFoundError:
                    continue
                except IsADirectoryError:
                    pass
                try:
                    os.rmdir(entry, dir_fd=top)
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EACCES):
                        raise
                os.chmod(entry, 0o700, dir_fd=top, follow_symlinks=False)  # a mode 000 folder
                with opened(os.open(entry, DIR_FLAGS, dir_fd=top)) as sub:
                    for child in os.listdir(sub):
                        os.rename(child, f".claw-rm-{os.urandom(8).hex()}", src_dir_fd=sub, dst_dir_fd=top)
    finally:
        os.close(top)
    os.rmdir(name, dir_fd=dirfd)

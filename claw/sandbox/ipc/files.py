"""The host's side of the IPC directories, touched only through directory descriptors.

    workspace/groups/<group>/.ipc/      host-owned; seen as /ipc in the sandbox
        requests/                       sandbox-writable: code writes its requests here
        responses/                      host-owned, read-only inside: the host's answers
        heartbeat/                      sandbox-writable: the guest's heartbeat file, "beat"

The sandbox can still plant symlinks, FIFOs, folders or junk in requests/ and heartbeat/. So
the host opens each folder once per run (O_NOFOLLOW, replacing anything that is not a real
directory) and then works relative to those descriptors only: a request is opened O_PATH and
checked to be a regular file before it is opened for reading (claw/safe_fs.py), the heartbeat
is only ever lstat'ed, and responses are created O_EXCL|O_NOFOLLOW and renamed into place.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from claw.safe_fs import UnsafePath, open_regular, remove_tree

log = logging.getLogger(__name__)

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
IPC_DIR = ".ipc"
HEARTBEAT_DIR = "heartbeat"
HEARTBEAT = "beat"
#: the two folders sandboxed code writes, and the size and entry count of the small tmpfs
#: each gets for one run (as root): they lie on the host's filesystem, outside the group's
#: disk quota, so without a cap of their own code could fill the host's disk through them
SANDBOX_WRITTEN = {"requests": (8 << 20, 1024), HEARTBEAT_DIR: (4 << 20, 1024)}
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class RequestFileError(Exception):
    """A request file that cannot be read as a request (the message is sent back)."""


def _remove(name: str, parent: int) -> None:
    remove_tree(parent, name)  # fd-based, never follows a link, any depth


def _detach(path: Path) -> None:
    """Unmount whatever is mounted on ``path`` (lazily: open descriptors keep it alive)."""
    for _ in range(8):  # a worker killed mid-run may have left its run's tmpfs behind
        if not os.path.ismount(path):
            return
        if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(path))


def _mount_small(path: Path, owner: tuple[int, int], size: int, inodes: int) -> bool:
    """A fresh tmpfs of ``size`` bytes and ``inodes`` entries on ``path``; False if this
    process may not mount (not root)."""
    options = f"size={size},nr_inodes={inodes},mode=0755,uid={owner[0]},gid={owner[1]}"
    if _libc.mount(b"claw-ipc", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   options.encode()) != 0:
        code = ctypes.get_errno()
        log.warning("ipc_tmpfs_unavailable path=%s error=%s", path.name, os.strerror(code))
        return False
    return True


def _ensure_dir(parent: int, name: str, owner: tuple[int, int] | None) -> int:
    """Open parent/name as a real directory, replacing a symlink or file planted there, and
    give it to ``owner`` (with mode 0755, so only that owner writes it)."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        os.mkdir(name, 0o755, dir_fd=parent)
        fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    except OSError:  # ELOOP (a symlink) or ENOTDIR (a file, a FIFO...)
        _remove(name, parent)
        os.mkdir(name, 0o755, dir_fd=parent)
        fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    if owner is not None:
        os.fchown(fd, *owner)
    os.fchmod(fd, 0o755)
    return fd


@dataclass
class IpcDirs:
    group: int
    ipc: int
    requests: int
    responses: int
    heartbeat: int
    #: the tmpfs mounts made for this run, unmounted (and so emptied) by close()
    mounted: list[Path] = field(default_factory=list)

    @classmethod
    def open(cls, group_dir: Path, owner: tuple[int, int] | None) -> IpcDirs:
        """``owner`` is the sandbox's uid:gid (None when claw is not root): it gets requests/
        and heartbeat/; .ipc and responses/ stay claw's own.

        As root, requests/ and heartbeat/ each get a small tmpfs of their own for the run
        (SANDBOX_WRITTEN): writes past it fail inside the sandbox with ENOSPC. Elsewhere they
        are plain folders, emptied after the run (bounded by the run's wall clock only).
        """
        host = (os.geteuid(), os.getegid()) if owner is not None else None
        group = os.open(group_dir, DIR_FLAGS)
        ipc = _ensure_dir(group, IPC_DIR, host)
        mounted: list[Path] = []
        try:
            for name, (size, inodes) in SANDBOX_WRITTEN.items():
                path = group_dir / IPC_DIR / name  # its parents are claw's: no link on the way
                if owner is not None:
                    _detach(path)  # a run's tmpfs that a killed worker left
                fd = _ensure_dir(ipc, name, owner)
                try:  # what is left underneath (an older claw's run) must not hide under the mount
                    for entry in os.listdir(fd):
                        _remove(entry, fd)
                finally:
                    os.close(fd)
                if owner is not None and _mount_small(path, owner, size, inodes):
                    mounted.append(path)
            return cls(group, ipc, _ensure_dir(ipc, "requests", owner), _ensure_dir(ipc, "responses", host),
                       _ensure_dir(ipc, HEARTBEAT_DIR, owner), mounted)
        except BaseException:
            for path in mounted:
                _detach(path)
            os.close(ipc)
            os.close(group)
            raise

    def close(self) -> None:
        for fd in (self.requests, self.responses, self.heartbeat, self.ipc, self.group):
            os.close(fd)
        for path in self.mounted:
            try:
                _detach(path)
            except OSError as exc:
                log.warning("ipc_tmpfs_unmount_failed path=%s error=%s", path.name, exc.strerror)

    # ---- requests ---------------------------------------------------------------------

    def request_names(self, limit: int) -> list[str]:
        """Up to ``limit`` names in requests/, in no particular order."""
        names = []
        with os.scandir(self.requests) as entries:
            for entry in entries:
                names.append(entry.name)
                if len(names) >= limit:
                    break
        return names

    def take_request(self, name: str, max_bytes: int) -> tuple[bytes, int]:
        """Read and remove one request file: (its bytes, its mtime in ns).

        RequestFileError if it is not a regular file within ``max_bytes``.
        """
        try:  # O_PATH and fstat first: a FIFO, socket or device is never opened
            fd = open_regular(self.requests, name)
        except (UnsafePath, OSError) as exc:
            _remove(name, self.requests)
            raise RequestFileError("a request must be a regular file (not a symlink, FIFO or directory)") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise RequestFileError("a request must be a regular file")
            if info.st_size > max_bytes:
                raise RequestFileError(f"request is {info.st_size} bytes; the limit is {max_bytes}")
            data = os.read(fd, max_bytes + 1)
            if len(data) > max_bytes:
                raise RequestFileError(f"request is over the limit of {max_bytes} bytes")
            return data, info.st_mtime_ns
        finally:
            os.close(fd)
            _remove(name, self.requests)

    def discard_request(self, name: str) -> None:
        _remove(name, self.requests)

    # ---- responses --------------------------------------------------------------------

    def write_response(self, request_id: str, data: bytes) -> None:
        temporary = f".{request_id}.{secrets.token_hex(4)}.tmp"
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
            dir_fd=self.responses,
        )
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        try:
            os.rename(temporary, f"{request_id}.json", src_dir_fd=self.responses, dst_dir_fd=self.responses)
        except OSError:
            _remove(temporary, self.responses)
            raise

    def clear(self, which: int) -> int:
        """Remove every entry of requests/ or responses/; returns how many."""
        names = os.listdir(which)
        for name in names:
            _remove(name, which)
        return len(names)

    # ---- heartbeat --------------------------------------------------------------------

    def heartbeat_mtime(self) -> float | None:
        try:
            info = os.stat(HEARTBEAT, dir_fd=self.heartbeat, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return info.st_mtime if stat.S_ISREG(info.st_mode) else None

    def clear_heartbeat(self) -> None:
        """Remove the heartbeat and whatever else was left in its folder (half-written ones)."""
        self.clear(self.heartbeat)

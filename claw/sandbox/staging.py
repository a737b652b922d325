"""Starting bwrap as an unprivileged uid when claw runs as root.

Why: bwrap started by root maps the sandbox's uid to root on the host. The kernel never counts
root's processes against RLIMIT_NPROC (a fork bomb would not stop), and a kernel escape would
land as root. So, as root, bwrap runs as CLAW_SANDBOX_UID instead.

The trap: an unprivileged bwrap can only bind what that uid can reach, and a workspace under
/root or /tmp/pytest-of-root is not reachable. So, between fork and exec, the child (still
root) enters a private mount namespace, mounts a small tmpfs over /tmp there, binds each
host path the sandbox gets (scratch folder, IPC folders, personality, memory) onto
/tmp/claw-<n>, then drops to the sandbox uid and execs bwrap, which binds /tmp/claw-<n> where
the sandbox sees it. The host's mounts are never touched: the
namespace is private to this one sandbox and dies with it.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Callable, Sequence

CLONE_NEWNS = 0x00020000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

STAGE = "/tmp"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def staged_path(index: int) -> str:
    """Where the ``index``-th source is staged (what bwrap binds from)."""
    return f"{STAGE}/claw-{index}"


def staged_launch(sources: Sequence[str], uid: int, gid: int) -> Callable[[], None]:
    """The preexec function: stage each of ``sources`` (folders or files) at staged_path(i)
    and become uid:gid.

    It runs in the forked child, so it only makes system calls on values prepared here.
    """
    sources_b = [source.encode() for source in sources]
    staged_b = [staged_path(i).encode() for i in range(len(sources))]
    stage_b = STAGE.encode()

    def preexec() -> None:
        _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        # Opened before /tmp is covered, and in this namespace: a bind source must belong to it.
        fds = [os.open(source, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC) for source in sources_b]
        _check(
            _libc.mount(b"claw-stage", stage_b, b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k"),
            "mount staging tmpfs",
        )
        for fd, staged in zip(fds, staged_b):
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):  # never bind where a link points
                raise OSError(40, "a sandbox mount source is a symlink")
            if stat.S_ISDIR(mode):
                os.mkdir(staged, 0o755)
            else:
                os.close(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
            _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), staged, None, MS_BIND, None), "bind a source")
            os.close(fd)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return preexec

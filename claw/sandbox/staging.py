"""Starting bwrap as an unprivileged uid when claw runs as root.

Why: bwrap started by root maps the sandbox's uid to root on the host. The kernel never counts
root's processes against RLIMIT_NPROC (a fork bomb would not stop), and a kernel escape would
land as root. So, as root, bwrap runs as CLAW_SANDBOX_UID instead.

The trap: an unprivileged bwrap can only bind what that uid can reach, and a workspace under
/root or /tmp/pytest-of-root is not reachable. So, between fork and exec, the child (still
root) enters a private mount namespace, mounts a small tmpfs over /tmp there, binds the
group's directory onto /tmp/claw-workspace, then drops to the sandbox uid and execs bwrap,
which binds /tmp/claw-workspace as /workspace. The host's mounts are never touched: the
namespace is private to this one sandbox and dies with it.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

CLONE_NEWNS = 0x00020000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

STAGE = "/tmp"
STAGED_WORKSPACE = "/tmp/claw-workspace"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def staged_launch(workspace: str, uid: int, gid: int) -> Callable[[], None]:
    """The preexec function: stage ``workspace`` at STAGED_WORKSPACE and become uid:gid.

    It runs in the forked child, so it only makes system calls on values prepared here.
    """
    workspace_b = workspace.encode()
    stage_b = STAGE.encode()
    staged_b = STAGED_WORKSPACE.encode()

    def preexec() -> None:
        _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        # Opened before /tmp is covered, and in this namespace: a bind source must belong to it.
        fd = os.open(workspace_b, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        _check(
            _libc.mount(b"claw-stage", stage_b, b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k"),
            "mount staging tmpfs",
        )
        os.mkdir(staged_b, 0o755)
        _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), staged_b, None, MS_BIND, None), "bind workspace")
        os.close(fd)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return preexec

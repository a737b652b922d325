"""A group's folder in the layout where sandboxed code cannot reach what the host reads.

Before: the group's folder itself was the sandbox's /workspace, so code could plant a symlink,
FIFO or link chain at CLAUDE.md, .personality/ or memory/ for host code to trip over, and only
an after-run clean-up stood in the way. Now (claw/workspace.py) the folder is host-owned and the
sandbox gets files/ only. This module puts a group's folder in that layout:

- at a group's first use after an upgrade (``ensure_group_layout``: one fstatat when done), and
- for every group by ``claw migrate`` and ``claw up`` (``migrate_workspace``), idempotently.

Migrating an old folder: its ownership is taken back first (so nothing sandboxed can write it
any more), then CLAUDE.md, .personality/ and memory/ stay where they are if they are a regular
file and real folders; inside them anything that is not a regular file or folder (symlink, FIFO,
socket, device, hard-linked file) is moved, never followed, to files/quarantine/<its path>.
Everything else in the folder (what the group's code and the file tools wrote) moves into
files/. .ipc/ is transient and is rebuilt.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from claw.config import Settings
from claw.safe_fs import DIR_FLAGS, make_dirs, open_root, opened, remove_tree, replace_file
from claw.workspace import IPC_DIR, SCRATCH_DIR, group_dir

log = logging.getLogger(__name__)

#: where "this group folder is migrated" is recorded: beside the group folders, never inside
#: one, because an old folder's code could have planted a marker inside to skip its migration
#: (the name cannot be a group's: those always hold an escaped ':')
MARKERS = ".layout"
LAYOUT_VERSION = b"2\n"
HOST_NAMES = ("CLAUDE.md", ".personality", "memory")
QUARANTINE = "quarantine"
_BUILDING = ".files-migrating"
#: deeper folders than this under memory/ or .personality/ are quarantined whole
MAX_DEPTH = 24


@dataclass
class Migration:
    moved: int = 0  #: entries moved into the scratch folder
    quarantined: list[str] = field(default_factory=list)  #: paths moved to files/quarantine/


def _host_owner() -> tuple[int, int] | None:
    return (os.geteuid(), os.getegid()) if os.geteuid() == 0 else None


def _marker(group: Path) -> Path:
    return group.parent / MARKERS / group.name


def is_migrated(group: Path) -> bool:
    try:
        info = os.stat(_marker(group), follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode)


def ensure_group_layout(workspace: Path, group_id: str, scratch_owner: tuple[int, int] | None) -> Path:
    """The group's folder, in the current layout (migrated now if it was not); returns it."""
    group = group_dir(workspace, group_id)
    if not is_migrated(group):
        group.mkdir(parents=True, exist_ok=True)
        migrate_group(group, scratch_owner)
    return group


def migrate_workspace(settings: Settings) -> int:
    """Migrate every group folder under workspace/groups; returns how many were migrated."""
    from claw.sandbox.base import sandbox_owner
    from claw.sandbox.errors import SandboxConfigError

    groups = settings.workspace / "groups"
    if not groups.is_dir():
        return 0
    try:
        owner = None if settings.sandbox == "subprocess" else sandbox_owner(settings)
    except SandboxConfigError:
        owner = None
    done = 0
    for entry in sorted(os.scandir(groups), key=lambda e: e.name):
        if entry.name != MARKERS and entry.is_dir(follow_symlinks=False) and not is_migrated(Path(entry.path)):
            migrate_group(Path(entry.path), owner)
            done += 1
    return done


def migrate_group(group: Path, scratch_owner: tuple[int, int] | None) -> Migration:
    report = Migration()
    host = _host_owner()
    with opened(open_root(group)) as gfd:
        if host is not None:  # first of all: sandboxed code must not write here any more
            os.fchown(gfd, *host)
        os.fchmod(gfd, 0o755)
        try:
            os.mkdir(_BUILDING, 0o755, dir_fd=gfd)
        except FileExistsError:  # an interrupted migration (go on filling it), or planted
            if not stat.S_ISDIR(os.stat(_BUILDING, dir_fd=gfd, follow_symlinks=False).st_mode):
                os.rename(_BUILDING, f"{_BUILDING}.planted", src_dir_fd=gfd, dst_dir_fd=gfd)
                os.mkdir(_BUILDING, 0o755, dir_fd=gfd)
        with opened(os.open(_BUILDING, DIR_FLAGS, dir_fd=gfd)) as scratch:
            for name in sorted(os.listdir(gfd)):
                if name == _BUILDING or name.startswith(".CLAUDE.md."):  # (a save under way)
                    continue
                mode = os.stat(name, dir_fd=gfd, follow_symlinks=False).st_mode
                if name == IPC_DIR:
                    _remove(gfd, name)
                elif name == "CLAUDE.md" and _plain_file(gfd, name):
                    _take(gfd, name, host)
                elif name in HOST_NAMES[1:] and stat.S_ISDIR(mode):
                    _clean_tree(gfd, name, scratch, [QUARANTINE, name], report, host, 0)
                elif name in HOST_NAMES:
                    _quarantine(gfd, name, scratch, [QUARANTINE], report)
                else:
                    _move(gfd, name, scratch, name)
                    report.moved += 1
            if scratch_owner is not None:
                os.fchown(scratch, *scratch_owner)
        os.rename(_BUILDING, SCRATCH_DIR, src_dir_fd=gfd, dst_dir_fd=gfd)
    markers = _marker(group).parent
    markers.mkdir(exist_ok=True)
    with opened(open_root(markers)) as folder:
        replace_file(folder, group.name, LAYOUT_VERSION)
    if report.moved or report.quarantined:
        log.warning("group_layout_migrated group_dir=%s moved=%d quarantined=%d", group.name, report.moved,
                    len(report.quarantined))
        for path in report.quarantined[:50]:
            log.warning("group_layout_quarantined group_dir=%s path=%r", group.name, path[:200])
    return report


def _plain_file(dirfd: int, name: str) -> bool:
    info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def _take(dirfd: int, name: str, host: tuple[int, int] | None) -> None:
    """A regular file or folder the host keeps: claw's, and writable by claw only."""
    if host is not None:
        os.chown(name, *host, dir_fd=dirfd, follow_symlinks=False)
    mode = os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode
    os.chmod(name, 0o755 if stat.S_ISDIR(mode) else 0o644, dir_fd=dirfd, follow_symlinks=True)


def _clean_tree(parent: int, name: str, scratch: int, where: list[str], report: Migration,
                host: tuple[int, int] | None, depth: int) -> None:
    if depth > MAX_DEPTH:
        _quarantine(parent, name, scratch, where[:-1], report)
        return
    _take(parent, name, host)  # before listing: from now on only claw can change what is in it
    with opened(os.open(name, DIR_FLAGS, dir_fd=parent)) as folder:
        for child in sorted(os.listdir(folder)):
            mode = os.stat(child, dir_fd=folder, follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                _clean_tree(folder, child, scratch, [*where, child], report, host, depth + 1)
            elif _plain_file(folder, child):
                _take(folder, child, host)
            else:
                _quarantine(folder, child, scratch, where, report)


def _quarantine(dirfd: int, name: str, scratch: int, where: list[str], report: Migration) -> None:
    with opened(make_dirs(scratch, where)) as target:
        _move(dirfd, name, target, name)
    report.quarantined.append("/".join([*where, name]))


def _move(src: int, name: str, dst: int, new_name: str) -> None:
    """rename(2) between two folder descriptors: moves the entry itself, never what it points to."""
    candidate, n = new_name, 1
    while True:
        try:
            os.stat(candidate, dir_fd=dst, follow_symlinks=False)
        except FileNotFoundError:
            break
        n += 1
        candidate = f"{new_name}.{n}"
    os.rename(name, candidate, src_dir_fd=src, dst_dir_fd=dst)


def _remove(dirfd: int, name: str) -> None:
    try:
        remove_tree(dirfd, name)  # fd-based, never follows a link out, any depth
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise

"""The ext4 image behind a group's quota: made, mounted, grown and unmounted (as root).

claw/sandbox/quota.py decides when; this module holds the filesystem mechanics. An image is
sparse, has no journal (a run's scratch files are not worth the space), 4 KiB blocks, an inode
count of the group's ``files`` and a 1 % reserve that only root can use, so the host's own
writes (memory, personality) still land when the sandbox has filled its part.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from claw.sandbox.errors import SandboxError
from claw.sandbox.limits import Limits

log = logging.getLogger(__name__)

ROOT_RESERVE_PERCENT = "1"
BLOCK = 4096
INODE_BYTES = 256
#: inodes ext4 keeps for itself (the reserved ones, root among them): not the group's files
EXT4_OWN_INODES = 10
MOUNT_OPTIONS = "loop,nosuid,nodev"
COMMAND_TIMEOUT = 60
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x10


@lru_cache(maxsize=2)
def unavailable() -> str | None:
    """None if claw can make and mount loop images here, else why not."""
    if os.geteuid() != 0:
        return "claw is not root"
    missing = [tool for tool in ("mount", "umount", "mkfs.ext4") if not _tool(tool)]
    if missing:
        return f"{', '.join(missing)} missing (apt-get install e2fsprogs mount)"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control (loop devices are not available here)"
    return None


def image_bytes(limits: Limits) -> int:
    """The image's size: the group's ``disk_mb`` for its data, plus the filesystem's own
    tables (inodes, bitmaps), so many files do not eat the room meant for bytes."""
    tables = (limits.files + EXT4_OWN_INODES) * INODE_BYTES + limits.disk_bytes // 512 + (256 << 10)
    return (limits.disk_bytes + tables + BLOCK - 1) // BLOCK * BLOCK


def create(image: Path, directory: Path, limits: Limits) -> None:
    """Make the image, move the directory's files (if any) into it, and leave it unmounted."""
    partial = image.with_suffix(".new")
    with open(partial, "wb") as handle:
        handle.truncate(image_bytes(limits))
    run("mkfs.ext4", "-q", "-F", "-b", str(BLOCK), "-I", str(INODE_BYTES),
        "-N", str(limits.files + EXT4_OWN_INODES), "-m", ROOT_RESERVE_PERCENT,
        "-O", "^has_journal", "-E", "nodiscard", str(partial))
    _move_in(directory, partial)
    os.replace(partial, image)


def mount(image: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if not any(directory.iterdir()):
        set_immutable(directory, True)  # unmounted, it takes no writes (not even root's)
    run("mount", "-o", MOUNT_OPTIONS, str(image), str(directory))


def grow(image: Path, directory: Path, limits: Limits) -> None:
    """A raised ``disk_mb`` grows the mounted image, offline: online resizing needs
    CAP_SYS_RESOURCE, which root may lack (it does on claw's CI machines). A lower limit, or
    a new ``files`` (ext4's inode count grows only with its size), needs a new image."""
    try:
        size = image.stat().st_size
        if size >= image_bytes(limits):
            return
        # ext4 adds inodes in proportion as it grows: keep their share out of the data's room
        tables = os.statvfs(directory).f_files * INODE_BYTES / size
        wanted = int((image_bytes(limits) - (limits.files + EXT4_OWN_INODES) * INODE_BYTES) / (1 - tables))
        wanted = (wanted + BLOCK - 1) // BLOCK * BLOCK
        run("umount", str(directory))  # busy (a host tool has a file open): the next run retries
    except (SandboxError, OSError) as exc:
        log.warning("sandbox_quota_grow_later image=%s error=%s", image.name, exc)
        return
    try:
        with open(image, "r+b") as handle:
            handle.truncate(wanted)
        run("e2fsck", "-f", "-p", str(image), ok=(0, 1))  # 1: it fixed something (lost+found)
        run("resize2fs", str(image))
        log.info("sandbox_quota_grown image=%s disk_mb=%d", image.name, limits.disk_mb)
    except (SandboxError, OSError) as exc:  # the old size still holds: runs go on
        log.error("sandbox_quota_grow_failed image=%s error=%s", image.name, exc)
    finally:
        run("mount", "-o", MOUNT_OPTIONS, str(image), str(directory))
        with contextlib.suppress(OSError):
            (directory / "lost+found").rmdir()


def used(directory: Path) -> tuple[int, int, int, int]:
    """(bytes used, files, bytes in force, files in force) of a mounted image."""
    fs = os.statvfs(directory)
    return ((fs.f_blocks - fs.f_bfree) * fs.f_frsize, max(fs.f_files - fs.f_ffree - EXT4_OWN_INODES, 0),
            fs.f_blocks * fs.f_frsize, fs.f_files - EXT4_OWN_INODES)


def release_under(root: Path) -> int:
    """Unmount every image mounted below ``root`` (tests' temporary folders); how many."""
    base = os.path.realpath(root) + os.sep
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return 0
    points = [Path(point) for line in lines
              if (point := line.split()[1].encode().decode("unicode_escape")).startswith(base)]
    for point in sorted(points, key=lambda p: len(p.parts), reverse=True):
        try:
            run("umount", str(point))
        except SandboxError:
            run("umount", "-l", str(point))
        if point.is_dir():
            set_immutable(point, False)
    return len(points)


def _move_in(directory: Path, image: Path) -> None:
    """Ready a new image: no lost+found (the group's code would see it), and the group's
    existing files copied in; then empty the directory it will cover."""
    stage = image.with_suffix(".mnt")
    stage.mkdir(exist_ok=True)
    run("mount", "-o", MOUNT_OPTIONS, str(image), str(stage))
    try:
        (stage / "lost+found").rmdir()
        if directory.is_dir():
            run("cp", "-a", f"{directory}/.", str(stage))
    except SandboxError:
        raise SandboxError(
            "the group's existing files do not fit its disk or file quota; raise disk_mb or files "
            "with `claw sandbox limits GROUP --set ...`"
        ) from None
    finally:
        run("umount", str(stage))
        stage.rmdir()
    for entry in list(directory.iterdir()) if directory.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def set_immutable(path: Path, on: bool) -> None:
    """Set or clear the directory's immutable flag (a filesystem without it: no-op)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        wanted = flags[0] | FS_IMMUTABLE_FL if on else flags[0] & ~FS_IMMUTABLE_FL
        if wanted != flags[0]:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, array.array("i", [wanted]))
    except OSError as exc:
        log.debug("sandbox_quota_no_immutable path=%s error=%s", path, exc.strerror)
    finally:
        os.close(fd)


def _tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def run(*argv: str, ok: tuple[int, ...] = (0,)) -> None:
    try:
        done = subprocess.run([_tool(argv[0]) or argv[0], *argv[1:]], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"{argv[0]} failed: {exc}") from None
    if done.returncode not in ok:
        raise SandboxError(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()[-300:]}")

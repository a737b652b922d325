"""A group's disk and file-count quota: its directory is a fixed-size filesystem of its own.

Why this mechanism: the workspace lives on the host's ext4, mounted without project quotas
(enabling them needs the filesystem unmounted), and every group's code runs as the same uid,
so user quotas cannot tell groups apart. A watchdog that measures and kills always lags the
writer (1.5 GB and 300,000 files took seconds). What really stops writes at the limit is a
filesystem that is that size: each group gets a sparse ext4 image (CLAW_HOME/quota/<group>.img)
made with the group's ``disk_mb`` and an inode count of ``files``, loop-mounted (nosuid, nodev)
on the group's directory. A write past either limit fails inside the sandbox with ENOSPC;
deleting frees room at once. Root keeps ext4's small reserve, so the host's own writes
(memory, personality) still land when the sandbox has filled its part. A sparse image takes
on disk only what is used.

The mount is made on the first run of a group (files already there are moved in) and again
whenever claw finds the group's directory unmounted (after a reboot: ``remount``, called at the
start of a turn). While unmounted the directory is immutable, so nothing can be written to the
host disk underneath by mistake.

Fallback ("measure", where claw cannot mount: not root, no loop devices, no mkfs.ext4, or
CLAW_SANDBOX_QUOTA=measure): usage is measured before each run and a group over its quota
gets no more runs until files are removed or the limit raised. This does not stop a write
mid-run; `claw sandbox status` says which mechanism is in force.

Changing ``disk_mb`` or ``files`` later applies to a new image only: `claw sandbox limits
GROUP --set ...` shows the size in force beside the one configured.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from claw.config import Settings
from claw.sandbox.errors import SandboxError
from claw.sandbox.limits import Limits
from claw.workspace import group_dir, group_dir_name

log = logging.getLogger(__name__)

#: ext4's reserve for root, in percent: room for the host's own writes when the sandbox is full
ROOT_RESERVE_PERCENT = "1"
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x10
COMMAND_TIMEOUT = 60
#: inodes ext4 keeps for itself (the reserved ones, root among them): not the group's files
EXT4_OWN_INODES = 10
BLOCK = 4096
INODE_BYTES = 256


def image_bytes(limits: Limits) -> int:
    """The image's size: the group's ``disk_mb`` for its data, plus the filesystem's own
    tables (inodes, bitmaps), so many files do not eat the room meant for bytes. Sparse."""
    tables = (limits.files + EXT4_OWN_INODES) * INODE_BYTES + limits.disk_bytes // 512 + (256 << 10)
    return (limits.disk_bytes + tables + BLOCK - 1) // BLOCK * BLOCK


class QuotaExceeded(SandboxError):
    """The group's workspace is over its quota (measure mode): no run until it is cleared."""


@dataclass(frozen=True, slots=True)
class Usage:
    mechanism: str  #: "loop" | "measure"
    used_bytes: int
    files: int
    #: the limits in force (a loop image's own size; else the configured limits)
    limit_bytes: int
    limit_files: int

    @property
    def over(self) -> bool:
        return self.used_bytes > self.limit_bytes or self.files > self.limit_files

    def describe(self) -> str:
        return (f"{self.used_bytes / (1 << 20):.1f} of {self.limit_bytes / (1 << 20):.0f} MB, "
                f"{self.files:,} of {self.limit_files:,} files ({self.mechanism})")


@lru_cache(maxsize=2)
def _loop_possible() -> str | None:
    """None if claw can make and mount loop images here, else why not."""
    if os.geteuid() != 0:
        return "claw is not root"
    missing = [tool for tool in ("mount", "umount", "mkfs.ext4") if not _tool(tool)]
    if missing:
        return f"{', '.join(missing)} missing (apt-get install e2fsprogs mount)"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control (loop devices are not available here)"
    return None


def _tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def mechanism(settings: Settings) -> tuple[str, str]:
    """("loop" | "measure", why) for `claw sandbox status`."""
    if settings.sandbox_quota == "measure":
        return "measure", "CLAW_SANDBOX_QUOTA=measure"
    reason = _loop_possible()
    if reason is None:
        return "loop", "a fixed-size ext4 image per group: writes stop at the limit"
    if settings.sandbox_quota == "loop":
        raise SandboxError(f"CLAW_SANDBOX_QUOTA=loop cannot work here: {reason}")
    return "measure", f"measured before each run, writes are NOT stopped mid-run ({reason})"


def describe(settings: Settings) -> str:
    try:
        kind, why = mechanism(settings)
    except SandboxError as exc:
        return str(exc)
    return f"disk quota per group: {kind} ({why})"


def image_path(settings: Settings, group_id: str) -> Path:
    return settings.home / "quota" / f"{group_dir_name(group_id)}.img"


@contextlib.contextmanager
def _locked(settings: Settings, group_id: str) -> Iterator[None]:
    folder = settings.home / "quota"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{group_dir_name(group_id)}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def prepare(settings: Settings, group_id: str, limits: Limits) -> Usage:
    """Before a run: the group's directory exists under its quota; QuotaExceeded if over it."""
    directory = group_dir(settings.workspace, group_id)
    kind, _ = mechanism(settings)
    if kind == "loop":
        with _locked(settings, group_id):
            _mount(settings, group_id, directory, limits)
        return usage(settings, group_id, limits)
    directory.mkdir(parents=True, exist_ok=True)
    found = usage(settings, group_id, limits)
    if found.over:
        raise QuotaExceeded(
            f"the group's workspace is over its quota: {found.describe()}; no code runs until files "
            f"are removed or the limit is raised (claw sandbox limits {group_id} --set disk_mb=...)"
        )
    return found


def remount(settings: Settings, group_id: str) -> None:
    """Mount the group's image again if it has one and is not mounted (e.g. after a reboot)."""
    directory = group_dir(settings.workspace, group_id)
    if image_path(settings, group_id).exists() and not os.path.ismount(directory):
        with _locked(settings, group_id):
            if os.path.ismount(directory):
                return
            try:
                _mount_existing(settings, group_id, directory)
            except (SandboxError, OSError) as exc:  # the next run tries again, and fails loudly
                log.error("sandbox_quota_remount_failed group=%s error=%s", group_id, exc)
                return
            log.info("sandbox_quota_remounted group=%s", group_id)


def usage(settings: Settings, group_id: str, limits: Limits) -> Usage:
    directory = group_dir(settings.workspace, group_id)
    if os.path.ismount(directory):
        fs = os.statvfs(directory)
        used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize
        return Usage("loop", used, max(fs.f_files - fs.f_ffree - EXT4_OWN_INODES, 0),
                     fs.f_blocks * fs.f_frsize, fs.f_files - EXT4_OWN_INODES)
    used, files = _measure(directory)
    return Usage("measure", used, files, limits.disk_bytes, limits.files)


def release(settings: Settings, group_id: str) -> None:
    """Unmount the group's image (the files stay in it); for tests and `claw` maintenance."""
    directory = group_dir(settings.workspace, group_id)
    with _locked(settings, group_id):
        while os.path.ismount(directory):
            _run("umount", str(directory))
        if directory.is_dir():
            _immutable(directory, False)


def release_under(root: Path) -> int:
    """Unmount every group image mounted below ``root`` (tests' temporary folders); how many."""
    base = os.path.realpath(root) + os.sep
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return 0
    points = []
    for line in lines:
        point = line.split()[1].encode().decode("unicode_escape")  # \040 is a space
        if point.startswith(base):
            points.append(Path(point))
    for point in sorted(points, key=lambda p: len(p.parts), reverse=True):
        try:
            _run("umount", str(point))
        except SandboxError:
            _run("umount", "-l", str(point))
        if point.is_dir() and _is_immutable(point):
            _immutable(point, False)
    return len(points)


def _mount(settings: Settings, group_id: str, directory: Path, limits: Limits) -> None:
    if os.path.ismount(directory):
        _grow(image_path(settings, group_id), directory, limits)
        return
    image = image_path(settings, group_id)
    if image.exists():
        _mount_existing(settings, group_id, directory)
        return
    partial = image.with_suffix(".new")
    with open(partial, "wb") as handle:
        handle.truncate(image_bytes(limits))
    _run("mkfs.ext4", "-q", "-F", "-b", str(BLOCK), "-I", str(INODE_BYTES),
         "-N", str(limits.files + EXT4_OWN_INODES), "-m", ROOT_RESERVE_PERCENT,
         "-O", "^has_journal", "-E", "nodiscard", str(partial))
    _move_in(directory, partial)
    os.replace(partial, image)
    log.info("sandbox_quota_created group=%s disk_mb=%d files=%d", group_id, limits.disk_mb, limits.files)
    _mount_existing(settings, group_id, directory)


def _grow(image: Path, directory: Path, limits: Limits) -> None:
    """A raised ``disk_mb`` grows the image, offline: online resizing needs CAP_SYS_RESOURCE,
    which root may lack (it does in claw's CI). A lower limit, or a new ``files`` (ext4's inode
    count grows only with its size), applies to a new image only."""
    try:
        size = image.stat().st_size
        if size >= image_bytes(limits):
            return
        # ext4 adds inodes in proportion as it grows: keep that share out of the data's room
        tables = os.statvfs(directory).f_files * INODE_BYTES / size
        wanted = int((image_bytes(limits) - (limits.files + EXT4_OWN_INODES) * INODE_BYTES) / (1 - tables))
        wanted = (wanted + BLOCK - 1) // BLOCK * BLOCK
        _run("umount", str(directory))  # busy (a host tool has a file open): next run tries again
    except (SandboxError, OSError) as exc:
        log.warning("sandbox_quota_grow_later image=%s error=%s", image.name, exc)
        return
    try:
        with open(image, "r+b") as handle:
            handle.truncate(wanted)
        _run("e2fsck", "-f", "-p", str(image), ok=(0, 1))  # 1: it fixed something (lost+found)
        _run("resize2fs", str(image))
        log.info("sandbox_quota_grown image=%s disk_mb=%d", image.name, limits.disk_mb)
    except (SandboxError, OSError) as exc:  # the old size still holds: runs go on
        log.error("sandbox_quota_grow_failed image=%s error=%s", image.name, exc)
    finally:
        _run("mount", "-o", "loop,nosuid,nodev", str(image), str(directory))
        with contextlib.suppress(OSError):
            (directory / "lost+found").rmdir()


def _mount_existing(settings: Settings, group_id: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if not any(directory.iterdir()):
        _immutable(directory, True)  # unmounted, it takes no writes (not even root's)
    _run("mount", "-o", "loop,nosuid,nodev", str(image_path(settings, group_id)), str(directory))


def _move_in(directory: Path, image: Path) -> None:
    """Ready the new image: no lost+found (the group's code would see it), and the group's
    existing files copied in; then empty the directory it will cover."""
    stage = image.with_suffix(".mnt")
    stage.mkdir(exist_ok=True)
    _run("mount", "-o", "loop,nosuid,nodev", str(image), str(stage))
    try:
        (stage / "lost+found").rmdir()
        if directory.is_dir():
            _run("cp", "-a", f"{directory}/.", str(stage))
    except SandboxError:
        raise SandboxError(
            f"the group's existing files do not fit its disk quota ({_measure(directory)[0] >> 20} MB); "
            "raise disk_mb or files with `claw sandbox limits`"
        ) from None
    finally:
        _run("umount", str(stage))
        stage.rmdir()
    for entry in list(directory.iterdir()) if directory.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _measure(directory: Path) -> tuple[int, int]:
    used = files = 0
    folders = [str(directory)]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            files += 1
            used += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
    return used, files


def _is_immutable(path: Path) -> bool:
    import array

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        return bool(flags[0] & FS_IMMUTABLE_FL)
    except OSError:
        return False
    finally:
        os.close(fd)


def _immutable(path: Path, on: bool) -> None:
    import array

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        flags[0] = flags[0] | FS_IMMUTABLE_FL if on else flags[0] & ~FS_IMMUTABLE_FL
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags)
    except OSError as exc:  # a filesystem without the flag: the mount still works
        log.debug("sandbox_quota_no_immutable path=%s error=%s", path, exc.strerror)
    finally:
        os.close(fd)


def _run(*argv: str, ok: tuple[int, ...] = (0,)) -> None:
    try:
        done = subprocess.run([_tool(argv[0]) or argv[0], *argv[1:]], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"{argv[0]} failed: {exc}") from None
    if done.returncode not in ok:
        raise SandboxError(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()[-300:]}")

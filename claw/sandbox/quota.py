"""A group's disk and file-count quota: its directory is a fixed-size filesystem of its own.

Why this mechanism: the workspace lives on the host's ext4, mounted without project quotas
(enabling them needs the filesystem unmounted), and every group's code runs as the same uid,
so user quotas cannot tell groups apart. A watchdog that measures and kills always lags the
writer (1.5 GB and 300,000 files took seconds). What really stops writes at the limit is a
filesystem of that size: each group gets a sparse ext4 image (CLAW_HOME/quota/<group>.img,
claw/sandbox/quota_image.py) with room for ``disk_mb`` and ``files`` inodes, loop-mounted
(nosuid, nodev) on the group's scratch folder (``files/``, the sandbox's /workspace; the
host-owned personality and memory beside it are not under the quota). A write past either limit fails inside the sandbox
with ENOSPC; deleting frees room at once; a sparse image takes on disk only what is used.

The image is made at the group's first run (files already there are moved in); a raised
``disk_mb`` grows it at the next run. ``remount`` (at the start of each turn) mounts it again
when it finds the directory unmounted, as after a reboot; unmounted, the directory is
immutable, so nothing is written to the host's disk underneath by mistake.

Fallback ("measure": not root, no loop devices, no mkfs.ext4, or CLAW_SANDBOX_QUOTA=measure):
usage is measured before each run and a group over its quota gets no run until files are
removed or the limit raised. It does not stop a write mid-run; `claw sandbox status` says
which mechanism is in force.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from claw.config import Settings
from claw.sandbox import quota_image
from claw.sandbox.errors import SandboxError
from claw.sandbox.limits import Limits
from claw.workspace import group_dir_name, scratch_dir

log = logging.getLogger(__name__)

release_under = quota_image.release_under


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


def mechanism(settings: Settings) -> tuple[str, str]:
    """("loop" | "measure", why) for `claw sandbox status`."""
    if settings.sandbox_quota == "measure":
        return "measure", "CLAW_SANDBOX_QUOTA=measure"
    reason = quota_image.unavailable()
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
    """One process at a time makes, grows or mounts a group's image."""
    folder = settings.home / "quota"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{group_dir_name(group_id)}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def prepare(settings: Settings, group_id: str, limits: Limits) -> Usage:
    """Before a run: the group's directory exists under its quota; QuotaExceeded if over it."""
    directory = scratch_dir(settings.workspace, group_id)
    kind, _ = mechanism(settings)
    if kind == "loop":
        image = image_path(settings, group_id)
        with _locked(settings, group_id):
            if os.path.ismount(directory):
                quota_image.grow(image, directory, limits)
            else:
                if not image.exists():
                    quota_image.create(image, directory, limits)
                    log.info("sandbox_quota_created group=%s disk_mb=%d files=%d",
                             group_id, limits.disk_mb, limits.files)
                quota_image.mount(image, directory)
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
    directory = scratch_dir(settings.workspace, group_id)
    image = image_path(settings, group_id)
    if not image.exists() or os.path.ismount(directory):
        return
    with _locked(settings, group_id):
        if os.path.ismount(directory):
            return
        try:
            quota_image.mount(image, directory)
        except (SandboxError, OSError) as exc:  # the next run tries again, and fails loudly
            log.error("sandbox_quota_remount_failed group=%s error=%s", group_id, exc)
            return
        log.info("sandbox_quota_remounted group=%s", group_id)


def usage(settings: Settings, group_id: str, limits: Limits) -> Usage:
    directory = scratch_dir(settings.workspace, group_id)
    if os.path.ismount(directory):
        return Usage("loop", *quota_image.used(directory))
    used, files = _measure(directory)
    return Usage("measure", used, files, limits.disk_bytes, limits.files)


def _measure(directory: Path) -> tuple[int, int]:
    """Bytes on disk and entries under ``directory`` (the fallback's walk)."""
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

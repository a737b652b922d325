"""After a run: tidy what sandboxed code left in its scratch folder. Hygiene, not a guarantee.

No guarantee rests on this: the host never reads the scratch folder except through
claw/safe_fs.py (no link followed, no FIFO opened, sizes capped), and the personality, memory
and IPC answers live outside it (claw/workspace.py). A chain of links longer than PATH_MAX, an
entry that cannot be stat'ed or a folder deeper than the budget can all outlive this sweep, and
that is fine. It removes FIFOs, sockets and devices and symlinks that are absolute or climb
with '..' (judged by their text, never resolved), so the group's files stay understandable to a person; it stops
after MAX_ENTRIES entries or MAX_SECONDS, so a folder of 300,000 files costs a turn nothing.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

from claw.sandbox.logsafe import escaped

log = logging.getLogger(__name__)

#: entries looked at per sweep, and seconds spent at most
MAX_ENTRIES = 5000
MAX_SECONDS = 0.1
#: removals logged one by one per sweep; the rest are counted in one line (code can plant
#: thousands at every run, and the log is not under any quota)
LOGGED_REMOVALS = 20


def remove_escapes(scratch: Path, *, max_entries: int = MAX_ENTRIES, max_seconds: float = MAX_SECONDS) -> int:
    """Remove outward symlinks, FIFOs, sockets and devices under ``scratch``; returns how many."""
    base = os.path.realpath(scratch)
    deadline = time.monotonic() + max_seconds
    removed = seen = 0
    folders = [base]
    while folders and seen < max_entries:
        if time.monotonic() > deadline:
            break
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = [entry for _, entry in zip(range(max_entries - seen), listing)]
        except OSError:
            continue
        for entry in entries:
            seen += 1
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    folders.append(entry.path)
                    continue
                if stat.S_ISLNK(mode):
                    if _stays_inside(os.readlink(entry.path)):
                        continue
                elif stat.S_ISREG(mode):
                    continue
                os.unlink(entry.path)
                removed += 1
                if removed <= LOGGED_REMOVALS:
                    log.warning("sandbox_planted_removed path=%s kind=%s",
                                escaped(os.path.relpath(entry.path, base)), _kind(mode))
            except OSError:
                continue
    if folders or seen >= max_entries:
        log.info("sandbox_tidy_stopped entries=%d removed=%d reason=budget", seen, removed)
    elif removed > LOGGED_REMOVALS:
        log.warning("sandbox_planted_removed_total removed=%d logged=%d", removed, LOGGED_REMOVALS)
    return removed


def _stays_inside(target: str) -> bool:
    """Judged by the link's text alone (no resolving, so no chain can make it slow or wrong):
    a relative link without '..' can only lead down, into the folder."""
    return not target.startswith("/") and ".." not in target.split("/")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink-out"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special"

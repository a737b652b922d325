"""After a run: remove what sandboxed code may have planted for host code to trip over.

Host code reads and writes the group's directory as claw's user (root, often): the personality
(CLAUDE.md, .personality/), memory files, the file tools. Sandboxed code owns that directory and
could leave a symlink there (CLAUDE.md -> CLAW_HOME/api_token, memory -> /etc) that the host
would follow on the next turn, reading a secret into the prompt or writing outside. So when a
run ends (and nothing in the sandbox is alive to race us), every symlink whose target, as the
host resolves it, lies outside the group's directory is removed, and so are FIFOs and sockets
(a FIFO makes a reader wait forever). Links that stay inside are kept; absolute links are judged
by where they point on the host, so inside the sandbox prefer relative links.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from claw.sandbox.logsafe import escaped

log = logging.getLogger(__name__)


def remove_escapes(group_dir: Path) -> int:
    """Remove outward symlinks, FIFOs and sockets under ``group_dir``; returns how many."""
    base = os.path.realpath(group_dir)
    removed = 0
    folders = [base]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    folders.append(entry.path)
                    continue
                if stat.S_ISLNK(mode):
                    target = os.path.realpath(entry.path)
                    if target == base or target.startswith(base + os.sep):
                        continue
                elif stat.S_ISREG(mode):
                    continue
                os.unlink(entry.path)
                removed += 1
                log.warning("sandbox_planted_removed path=%s kind=%s",
                            escaped(os.path.relpath(entry.path, base)), _kind(mode))
            except OSError:
                continue
    return removed


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink-out"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special"

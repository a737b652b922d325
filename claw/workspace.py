"""Where each group's files live.

    workspace/groups/<escaped group id>/     the group's folder, owned by claw (the host)
        CLAUDE.md  .personality/  memory/    personality, its history, memory: host-owned
        files/                               scratch: the sandbox's /workspace (sandbox-owned)
        .ipc/                                IPC: requests/ and heartbeat/ are sandbox-writable,
                                             responses/ is read-only inside the sandbox
    workspace/groups/.layout/<escaped id>    marks a group folder already in this layout

Sandboxed code can write only files/ and the two IPC folders, so nothing it plants is ever on
the way to the personality or memory (claw/sandbox/layout.py moves older folders over).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

#: longest escaped name kept as is: a file name may be 255 bytes, and the longest name claw
#: derives from it is ``<name>.sqlite3-journal`` (16 more)
MAX_DIR_NAME = 239


def group_dir_name(group_id: str) -> str:
    """A filesystem-safe name: every character outside [A-Za-z0-9_.~-] is escaped (reversibly,
    for every name that fits).

    A group id is ``<channel>:<chat_id>``; requiring the (escaped) ':' means the name can never
    be '.' or '..', so no group's directory is the workspace root or outside it.

    A name that would be too long for the filesystem (a 200-character chat id of emoji escapes
    to 2,400 bytes) is cut and made unique with a hash of the whole id after ``%%``, which no
    escaped name contains (``quote`` writes every '%' as ``%25``): no other id can forge it.
    """
    channel, sep, _ = group_id.partition(":")
    if not sep or not channel:
        raise ValueError(f"not a group id (want <channel>:<chat_id>): {group_id!r}")
    name = quote(group_id, safe="")
    if len(name) <= MAX_DIR_NAME:
        return name
    head = name[:200]
    if "%" in head[-2:]:  # not half an escape
        head = head[: head.rindex("%")]
    return f"{head}%%{hashlib.sha256(group_id.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def group_dir(workspace: Path, group_id: str) -> Path:
    return workspace / "groups" / group_dir_name(group_id)



#: the group's scratch folder inside its directory: what sandboxed code sees as /workspace
SCRATCH_DIR = "files"
IPC_DIR = ".ipc"


def scratch_dir(workspace: Path, group_id: str) -> Path:
    return group_dir(workspace, group_id) / SCRATCH_DIR


def ipc_dir(workspace: Path, group_id: str) -> Path:
    return group_dir(workspace, group_id) / IPC_DIR

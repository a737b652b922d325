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

from pathlib import Path
from urllib.parse import quote


def group_dir_name(group_id: str) -> str:
    """A filesystem-safe, reversible name: every character outside [A-Za-z0-9_.-] is escaped.

    A group id is ``<channel>:<chat_id>``; requiring the (escaped) ':' means the name can never
    be '.' or '..', so no group's directory is the workspace root or outside it.
    """
    channel, sep, _ = group_id.partition(":")
    if not sep or not channel:
        raise ValueError(f"not a group id (want <channel>:<chat_id>): {group_id!r}")
    return quote(group_id, safe="")


def group_dir(workspace: Path, group_id: str) -> Path:
    return workspace / "groups" / group_dir_name(group_id)



#: the group's scratch folder inside its directory: what sandboxed code sees as /workspace
SCRATCH_DIR = "files"
IPC_DIR = ".ipc"


def scratch_dir(workspace: Path, group_id: str) -> Path:
    return group_dir(workspace, group_id) / SCRATCH_DIR


def ipc_dir(workspace: Path, group_id: str) -> Path:
    return group_dir(workspace, group_id) / IPC_DIR

"""The path a model gave to a file tool, as components inside the group's scratch folder.

The file tools run on the host, in a folder sandboxed code writes, so a path is never resolved
as a string: it is split here ('..' and absolute paths refused, except the sandbox's own name for
the folder, ``/workspace/...``), and every component is then opened relative to a directory
descriptor without following a symlink (claw/safe_fs.py). A planted symlink, even a chain
longer than PATH_MAX, is refused rather than judged.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from claw.safe_fs import UnsafePath, parts_of
from claw.sandbox.base import WORKSPACE_INSIDE
from claw.sandbox.errors import WorkspacePathError


def workspace_parts(path: str) -> list[str]:
    """The components of ``path`` below the scratch folder ([] for the folder itself)."""
    if "\x00" in path:
        raise WorkspacePathError("the path contains a NUL character")
    given = PurePosixPath(path.strip() or ".")
    if given.is_absolute():
        try:
            given = given.relative_to(WORKSPACE_INSIDE)
        except ValueError:
            raise WorkspacePathError(
                f"{path!r} is an absolute path; give a path inside the workspace, like 'notes/todo.txt'"
            ) from None
    try:
        return parts_of(given)
    except UnsafePath:
        raise WorkspacePathError(f"{path!r} contains '..'; paths must stay inside the workspace") from None

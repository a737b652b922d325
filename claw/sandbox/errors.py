"""What can go wrong around the sandbox, as a small tree of named exceptions:

    SandboxError                 base of everything below
    ├── SandboxUnavailable       no backend can run code here (bwrap broken, no Docker engine, ...)
    ├── SandboxConfigError       a setting or a group's settings["sandbox"] is invalid
    └── WorkspacePathError       a tool's path leaves the group's workspace, or is not a plain file
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base class of the sandbox's errors; the message says what to do."""


class SandboxUnavailable(SandboxError):
    """The configured backend cannot run code on this machine."""


class SandboxConfigError(SandboxError):
    """Sandbox settings (global or per group) are invalid."""


class WorkspacePathError(SandboxError):
    """A path given to a workspace tool is refused."""

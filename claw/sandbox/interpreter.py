"""Which Python runs inside the sandbox, and which host directory it needs.

The sandbox sees only read-only system directories, so its Python must live there: by default
Debian's /usr/bin/python3. A Python under /root or /home (pyenv, a user's venv) is never used,
because binding its prefix would show the sandbox a user's private files; CLAW_SANDBOX_PYTHON
can name another interpreter, whose prefix (the directory above its bin/) is then bound
read-only, unless it is one of those private places.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from claw.config import Settings
from claw.sandbox.errors import SandboxConfigError

#: directories that hold users' private files; never shown to the sandbox
PRIVATE_PREFIXES = ("/root", "/home")
#: system directories every bwrap sandbox sees read-only anyway
SYSTEM_PREFIXES = ("/usr",)
DEFAULT_CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3")


@dataclass(frozen=True, slots=True)
class Interpreter:
    path: str  #: the interpreter, as the sandbox calls it
    bind: str | None  #: an extra host prefix to bind read-only at the same path, if any


def _inside(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _refusal(real: str, settings: Settings) -> str | None:
    private = [*PRIVATE_PREFIXES, str(settings.home.resolve()), str(settings.workspace.resolve())]
    for prefix in private:
        if _inside(real, prefix):
            return f"{real} is under {prefix}, which the sandbox must not see"
    return None


def _interpreter(path: str, settings: Settings) -> Interpreter:
    real = os.path.realpath(path)
    if not (os.path.isfile(real) and os.access(real, os.X_OK)):
        raise SandboxConfigError(f"no Python interpreter at {path}")
    refusal = _refusal(real, settings)
    if refusal:
        raise SandboxConfigError(refusal)
    if any(_inside(real, prefix) for prefix in SYSTEM_PREFIXES):
        return Interpreter(path, None)
    prefix = str(Path(real).parent.parent)
    if prefix == "/":
        raise SandboxConfigError(f"{real} has no prefix directory to bind; use /usr/bin/python3")
    return Interpreter(real, prefix)


def sandbox_python(settings: Settings) -> Interpreter:
    """The interpreter for sandboxed Python code, or SandboxConfigError saying what to do."""
    if settings.sandbox_python:
        return _interpreter(settings.sandbox_python, settings)
    candidates = [*DEFAULT_CANDIDATES, os.path.join(sys.base_prefix, "bin", "python3")]
    reasons = []
    for candidate in candidates:
        try:
            return _interpreter(candidate, settings)
        except SandboxConfigError as exc:
            reasons.append(str(exc))
    raise SandboxConfigError(
        "no Python usable inside the sandbox (" + "; ".join(reasons) + "): "
        "apt-get install python3, or set CLAW_SANDBOX_PYTHON to an interpreter outside /root and /home"
    )


def sandbox_bash() -> str:
    return shutil.which("bash", path="/usr/bin:/bin") or "/bin/bash"

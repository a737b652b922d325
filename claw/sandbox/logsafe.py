"""Names from the sandbox, made safe to put in a log line.

Sandboxed code chooses its file names and request contents: a name with a newline in it would
forge a second log line, and an escape sequence would repaint the operator's terminal. Every
log line that shows such a name shows ``escaped(name)``: the repr of the name (quotes, ``\\n``,
``\\x1b``, ``\\u202e`` and undecodable bytes as ``\\udcff``), cut to a length.
"""

from __future__ import annotations

#: characters of a name kept in a log line
LIMIT = 80


def escaped(name: str, limit: int = LIMIT) -> str:
    """``name`` as one printable, quoted token: ``'a\\nb'``; longer ones end ``...+N``."""
    if len(name) <= limit:
        return repr(name)
    return f"{name[:limit]!r}...+{len(name) - limit}"

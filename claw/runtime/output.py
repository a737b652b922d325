"""`claw up` keeps running (and stops warm) when its output goes away.

When the terminal closes, or the `tee` of `claw up | tee log` is killed, every write to stdout
or stderr fails (EIO, EPIPE). An exception from a log line or a print must not end `claw up`
half-way through its warm stop, so a stream that fails once is pointed at /dev/null: later
writes, and the flush at exit, succeed and go nowhere.
"""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO


class ForgivingStream(io.TextIOBase):
    """A text stream that writes through to ``stream`` until a write fails, then nowhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self._silence()
        return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            self._silence()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (OSError, ValueError):
            return False

    def _silence(self) -> None:
        try:
            fd = self.stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)  # also what the interpreter flushes at exit
            os.close(devnull)
        except (OSError, ValueError):
            pass
        self.stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def survive_lost_output() -> None:
    """Make this process's stdout and stderr forgiving (see the module docstring)."""
    if not isinstance(sys.stdout, ForgivingStream):
        sys.stdout = ForgivingStream(sys.stdout)
    if not isinstance(sys.stderr, ForgivingStream):
        sys.stderr = ForgivingStream(sys.stderr)

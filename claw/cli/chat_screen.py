"""What `claw chat` prints: whose line is whose, and lines that arrive while you type.

claw's lines start with ``[claw]`` (``[claw: notice]`` for notices) and are coloured in a
terminal; everyone else's, your own included, read ``name> text``, the shape of the prompt.
So the offline model's echo ``[claw] max: hello`` can no longer be taken for your own line.

Replies, reminders and the rest arrive on another thread while the prompt waits for input:
in a terminal such a line clears the prompt line, is printed, and the prompt is drawn again
with what was typed so far (from readline's buffer), as chat clients in a terminal do. Without
a terminal (input piped in) lines are simply printed.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

import typer

from claw.cli.common import CONTROL_CHARACTERS

try:  # line editing and history for input(); absent on some builds of Python
    import readline
except ImportError:  # pragma: no cover
    readline = None  # type: ignore[assignment]

CLAW_LABEL = "[claw]"
CLEAR_LINE = "\r\x1b[2K"
#: control characters a chat line may not send to the terminal (all but tab and line breaks):
#: an escape sequence in a member's message or in a reply (the model may echo what a web page
#: or a member wrote) would otherwise clear the screen, retitle it or write the clipboard
_CONTROLS = {c: shown_as for c, shown_as in CONTROL_CHARACTERS.items()
             if chr(c) not in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x85"}


def printable(text: str) -> str:
    """The text with every control character that a terminal would act on made visible."""
    return text.translate(_CONTROLS)


def claw_text(text: str, kind: str = "chat") -> str:
    label = CLAW_LABEL if kind == "chat" else f"[claw: {kind}]"
    return _labelled(f"{label} ", text)


def person_text(sender: str, text: str) -> str:
    return _labelled(f"{sender}> ", text)


def _labelled(label: str, text: str) -> str:
    """The label on the first line; later lines indented under the text, not the label."""
    label, text = printable(label), printable(text)
    first, *rest = text.splitlines() or [""]
    pad = " " * len(label)
    return "\n".join([label + first, *(pad + line for line in rest)])


class Screen:
    """The terminal of one `claw chat`: the prompt and the lines printed above it."""

    def __init__(self, prompt: str, *, out: TextIO | None = None, interactive: bool | None = None) -> None:
        self.prompt = prompt
        self.out = out or sys.stdout
        self.interactive = (sys.stdin.isatty() and self.out.isatty()) if interactive is None else interactive
        self._lock = threading.Lock()
        self._prompting = False

    def read(self) -> str:
        """One line typed at the prompt (EOFError on Ctrl-D, KeyboardInterrupt on Ctrl-C)."""
        with self._lock:
            self._prompting = True
        try:
            return input(self.prompt)
        finally:
            with self._lock:
                self._prompting = False

    def claw(self, text: str, kind: str = "chat") -> None:
        self.show(claw_text(text, kind), fg="cyan", bold=True)

    def person(self, sender: str, text: str) -> None:
        self.show(person_text(sender, text))

    def note(self, text: str) -> None:
        """claw chat's own remarks (typing, connection): dim, and on stderr without a terminal,
        so piped output holds only the conversation."""
        if self.interactive:
            self.show(text, dim=True)
        else:
            typer.echo(text, err=True)

    def show(self, text: str, **style: object) -> None:
        if self.interactive:
            text = typer.style(text, **style)  # type: ignore[arg-type]
        with self._lock:
            if self.interactive and self._prompting:
                typed = readline.get_line_buffer() if readline is not None else ""
                self.out.write(f"{CLEAR_LINE}{text}\n{self.prompt}{typed}")
            else:
                self.out.write(text + "\n")
            self.out.flush()

"""What `claw chat` prints: a chat line cannot drive the terminal it is shown in."""

from __future__ import annotations

import io

from claw.cli.chat_screen import Screen, claw_text, person_text


def test_escape_sequences_in_a_reply_or_a_members_line_are_shown_not_obeyed() -> None:
    hostile = "hi \x1b[2J\x1b]0;pwned\x07 \x1b]52;c;ZXZpbA==\x07 \x9b31m red\x7f"
    shown = [claw_text(hostile), person_text("bob\x1b[8m", hostile)]
    for line in shown:
        assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 for c in line), repr(line)
        assert "hi " in line and "pwned" in line  # the words stay readable
    out = io.StringIO()
    Screen("max> ", out=out, interactive=False).claw(hostile)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()


def test_line_breaks_and_tabs_still_lay_out_the_text() -> None:
    assert claw_text("one\ttwo\nthree\r\nfour") == "[claw] one\ttwo\n       three\n       four"

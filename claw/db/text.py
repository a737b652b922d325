"""What a text column can hold, on every database claw runs on.

NUL is refused by PostgreSQL in text; a lone surrogate (half of a UTF-16 pair, which a JSON
``\\ud800`` escape can make) cannot be encoded as UTF-8 by any driver nor by a JSON answer.
A valid pair is one code point in a Python str, so every surrogate code point is a lone one.
The inbox replaces both in what channels send; the API and the agent's tools refuse them.
"""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD."""
    return UNSTORABLE.sub("\ufffd", text)


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None when it can."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    what = "NUL" if found.group() == "\x00" else f"lone surrogate \\u{ord(found.group()):04x}"
    return f"{what} at character {found.start()}: text must be valid Unicode without NUL"

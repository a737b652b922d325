"""The marks the chaos run writes into chat messages and tool calls, and how to find them again.

Every chat message carries one message id (``c03.0042``: group 3, its 42nd message), every reply
echoes the ids it answers, and every tool effect carries a unique token
(``tok-memory-c03-0042``). Ids and tokens never look alike, so a tally can scan any text for
both without confusing an IPC message (which carries a token) with a reply (which echoes ids).
"""

from __future__ import annotations

import re

#: a message id anywhere in a text: group number, dot, sequence number within the group
MESSAGE_ID = re.compile(r"(?<![\w.-])c(\d{2,})\.(\d{4,})(?![\w.])")
#: a tool-effect token anywhere in a text
TOKEN = re.compile(r"tok-(schedule|memory|ipc)-c\d{2,}-\d{4,}")

TOOL_KINDS = ("schedule", "memory", "ipc")


def message_id(group: int, seq: int) -> str:
    return f"c{group:02d}.{seq:04d}"


def parse_message_id(text: str) -> tuple[int, int]:
    match = MESSAGE_ID.fullmatch(text)
    if match is None:
        raise ValueError(f"not a chaos message id: {text!r}")
    return int(match.group(1)), int(match.group(2))


def message_ids(text: str) -> list[str]:
    """The message ids a text mentions, in the order it mentions them."""
    return [match.group(0) for match in MESSAGE_ID.finditer(text)]


def token(kind: str, turn_key: str) -> str:
    """The mark of one tool effect a turn asks for: its kind and the turn's first message id."""
    return f"tok-{kind}-{turn_key.replace('.', '-')}"


def tokens(text: str) -> list[str]:
    return [match.group(0) for match in TOKEN.finditer(text)]

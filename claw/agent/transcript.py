"""Turning stored messages into the alternating user/assistant turns chat models expect.

The layout serves the prompt cache (claw/agent/claude.py): history first, the same bytes from
one turn to the next as far as possible, then the new messages, then the clock, which changes
every turn and so must come last.

The history window moves in steps. Sliding it by one message per turn would change the first
message of every request, and no cached prefix past the system prompt would ever be reused.
So a window starts at a *step boundary*: a line whose content hash falls in one HISTORY_STEP-th
of the hash space (content-defined chunking, as rsync and restic cut files), or at the group's
very first line. Being a boundary is a property of the line itself, so every turn agrees where
the boundaries are without keeping any state: the start stays put for several turns, until the
window from it no longer fits, and then jumps to the next boundary. A window always keeps at
least half of what would fit; in the rare run of lines without a boundary it starts at the
line of highest hash instead, which also stays put while the window moves on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from claw.agent.base import ChatLine, ChatMessage, TurnInput
from claw.agent.clock import clock_line

NEW_MESSAGES_HEADER = "(new messages)"
CHARS_PER_TOKEN = 4  #: rough, model-independent estimate; good enough for a budget
#: a window start moves by about this many lines at a time (one line in HISTORY_STEP is a
#: boundary); bigger steps keep the cached prefix longer but leave the window shorter
HISTORY_STEP = 8


@dataclass(frozen=True, slots=True)
class Conversation:
    """A turn laid out for the model."""

    messages: list[ChatMessage]
    history_end: int  #: leading messages that are history only (the stable, cacheable part)
    clock: str  #: the clock line at the end of the last message ("" when none was given)


def format_user_line(line: ChatLine, tz: ZoneInfo) -> str:
    """``[Alice @ 2:34 PM]: text`` in the group's timezone (DESIGN.md, Names and ids)."""
    local = line.created_at.astimezone(tz)
    clock = local.strftime("%I:%M %p").lstrip("0")
    return f"[{line.sender} @ {clock}]: {line.text}"


def line_tokens(line: ChatLine) -> int:
    return len(line.text) // CHARS_PER_TOKEN + 8


def _rank(line: ChatLine) -> int:
    """A hash of the line: the same on every turn, independent of the lines around it."""
    moment = line.created_at.astimezone(timezone.utc).isoformat()
    key = "\x1f".join((moment, line.role, line.sender, line.text)).encode("utf-8", "replace")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def is_step_boundary(line: ChatLine) -> bool:
    """Whether a history window prefers to start at this line; the same answer on every turn."""
    return _rank(line) % HISTORY_STEP == 0


def history_window(history: list[ChatLine], *, max_lines: int | None = None,
                   token_budget: int | None = None, from_start: bool = True) -> list[ChatLine]:
    """The newest lines within both limits, cut where the previous turns cut if possible.

    The start is chosen among the starts that keep at least half of what fits: the oldest step
    boundary there, else (a run of lines without one) the line of highest rank there, which
    also stays the choice while the window moves on (winnowing, as MOSS picks fingerprints).
    ``from_start`` says whether ``history[0]`` is itself a stable start (the group's first
    line, or a window already cut there); it is not when ``history`` is merely the newest N
    stored lines of a longer conversation, whose first line changes every turn.
    """
    lowest = 0 if max_lines is None else max(0, len(history) - max_lines)
    tokens = [line_tokens(line) for line in history]
    if token_budget is not None:
        used, start = 0, len(history)
        while start > lowest and used + tokens[start - 1] <= token_budget:
            used += tokens[start - 1]
            start -= 1
        lowest = start
    if lowest == 0 and from_start:
        return history
    # the latest start that keeps at least half the lines and half the tokens that would fit
    lines_half, tokens_half = (len(history) - lowest + 1) // 2, (sum(tokens[lowest:]) + 1) // 2
    highest, kept = len(history), 0
    while highest > lowest and (len(history) - highest < lines_half or kept < tokens_half):
        highest -= 1
        kept += tokens[highest]
    choices = range(lowest, highest + 1) if highest < len(history) else range(lowest, len(history))
    if not choices:
        return []
    for start in choices:
        if is_step_boundary(history[start]):
            return history[start:]
    return history[max(choices, key=lambda start: _rank(history[start])):]


def stored_history_window(newest: list[ChatLine], limit: int) -> list[ChatLine]:
    """The window over the newest ``limit`` stored lines (fewer: the group's whole history)."""
    return history_window(newest, max_lines=limit, from_start=len(newest) < limit)


def trim_history(history: list[ChatLine], token_budget: int) -> list[ChatLine]:
    """The newest lines that fit the budget, cut at a step boundary."""
    return history_window(history, token_budget=token_budget)


def _layout(turn: TurnInput, tz: ZoneInfo, history: list[ChatLine], clock: str) -> Conversation:
    turns: list[ChatMessage] = []

    def add(role: str, text: str, joint: str = "\n") -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += joint + text
        else:
            turns.append({"role": role, "content": text})

    for line in history:
        add(line.role, format_user_line(line, tz) if line.role == "user" else line.text)
    while turns and turns[0]["role"] != "user":  # the APIs want a user turn first
        turns.pop(0)
    # A history that ends with user lines shares its last message with the new ones: that
    # message changes next turn, so the stable part ends before it.
    history_end = len(turns) - 1 if turns and turns[-1]["role"] == "user" else len(turns)
    if history and turn.new_messages:
        add("user", NEW_MESSAGES_HEADER)
    for line in turn.new_messages:
        add("user", format_user_line(line, tz))
    if clock:
        add("user", clock, "\n\n")
    return Conversation(turns, history_end, clock)


def build_conversation(turn: TurnInput, *, token_budget: int | None = None,
                       now: datetime | None = None) -> Conversation:
    """The turn as messages: history (windowed to the budget), new messages, and the clock
    for ``now`` in the group's timezone (none when ``now`` is None)."""
    tz = ZoneInfo(turn.timezone)
    history = turn.history if token_budget is None else trim_history(turn.history, token_budget)
    return _layout(turn, tz, history, clock_line(now, turn.timezone) if now else "")


def to_chat_turns(
    turn: TurnInput, tz: ZoneInfo | None = None, *, token_budget: int | None = None
) -> list[ChatMessage]:
    """History then the new messages, marked as new; consecutive same-role lines are merged
    because the APIs require alternation starting with a user turn. No clock."""
    tz = tz or ZoneInfo(turn.timezone)
    history = turn.history if token_budget is None else trim_history(turn.history, token_budget)
    return _layout(turn, tz, history, "").messages

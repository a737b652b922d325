"""Fitting a backlog of pending messages into one turn, with a visible marker where it was cut.

After a long outage in a busy group, or with one huge message, the pending messages may not fit
the model's context, and a turn that can never fit would fail forever. So a turn shows the model
at most ``max_messages`` of them and at most ``char_budget`` characters: the oldest messages are
left out first (one marker line says how many), then the longest are cut in the middle (each cut
says how much). The reply still answers every pending message: the user sees the marker in what
the model saw, not silence.
"""

from __future__ import annotations

from dataclasses import replace

from claw.agent import ChatLine

DROPPED_MARKER = "[… {messages} earlier messages / {chars} characters trimmed …]"
CUT_MARKER = " [… {chars} characters trimmed …] "
#: a message is not cut below this; if even that does not fit, older messages go first
MIN_KEPT_CHARS = 400
MARKER_SENDER = "claw"


def trim_pending(lines: list[ChatLine], *, max_messages: int, char_budget: int) -> list[ChatLine]:
    """The lines to show the model: all of them when they fit, else the newest, cut to fit."""
    kept = lines[-max_messages:] if len(lines) > max_messages else list(lines)
    while len(kept) > 1 and sum(min(len(l.text), MIN_KEPT_CHARS) for l in kept) > char_budget:
        kept.pop(0)
    dropped = lines[: len(lines) - len(kept)]
    if sum(len(l.text) for l in kept) > char_budget:
        cap = _cap(sorted(len(l.text) for l in kept), char_budget)
        kept = [replace(l, text=cut(l.text, cap)) if len(l.text) > cap else l for l in kept]
    if not dropped:
        return kept
    marker = DROPPED_MARKER.format(messages=len(dropped), chars=sum(len(l.text) for l in dropped))
    return [ChatLine("user", MARKER_SENDER, marker, dropped[-1].created_at), *kept]


def _cap(lengths: list[int], budget: int) -> int:
    """The largest per-message length such that the messages, each cut to it, fit ``budget``
    (water-filling: short messages stay whole, the long ones share what is left)."""
    left = budget
    for index, length in enumerate(lengths):
        share = left // (len(lengths) - index)
        if length > share:
            return max(1, share)
        left -= length
    return max(lengths)


def cut(text: str, keep: int) -> str:
    """``text`` cut to about ``keep`` characters: its head and tail around a marker."""
    removed = len(text) - keep
    if removed <= 0:
        return text
    head = keep * 2 // 3
    tail = keep - head
    return text[:head] + CUT_MARKER.format(chars=removed) + (text[-tail:] if tail else "")

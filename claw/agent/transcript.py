"""Turning stored messages into the alternating user/assistant turns chat models expect."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from claw.agent.base import ChatLine, TurnInput


def format_user_line(line: ChatLine, tz: ZoneInfo) -> str:
    """``[Alice @ 2:34 PM]: text`` in the group's timezone (DESIGN.md, Names and ids)."""
    local = line.created_at.astimezone(tz)
    clock = local.strftime("%I:%M %p").lstrip("0")
    return f"[{line.sender} @ {clock}]: {line.text}"


def to_chat_turns(turn: TurnInput, tz: ZoneInfo | None = None) -> list[dict[str, str]]:
    """Merge consecutive same-role lines; the API requires alternation starting with a user."""
    tz = tz or ZoneInfo("UTC")
    turns: list[dict[str, str]] = []
    lines = [*turn.history, *turn.new_messages]
    for line in lines:
        text = format_user_line(line, tz) if line.role == "user" else line.text
        if turns and turns[-1]["role"] == line.role:
            turns[-1]["content"] += "\n" + text
        else:
            turns.append({"role": line.role, "content": text})
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns

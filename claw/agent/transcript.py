"""Turning stored messages into the alternating user/assistant turns chat models expect."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from claw.agent.base import ChatLine, ChatMessage, TurnInput

NEW_MESSAGES_HEADER = "(new messages)"
CHARS_PER_TOKEN = 4  #: rough, model-independent estimate; good enough for a budget


def format_user_line(line: ChatLine, tz: ZoneInfo) -> str:
    """``[Alice @ 2:34 PM]: text`` in the group's timezone (DESIGN.md, Names and ids)."""
    local = line.created_at.astimezone(tz)
    clock = local.strftime("%I:%M %p").lstrip("0")
    return f"[{line.sender} @ {clock}]: {line.text}"


def trim_history(history: list[ChatLine], token_budget: int) -> list[ChatLine]:
    """Keep the newest lines that fit the budget."""
    kept: list[ChatLine] = []
    used = 0
    for line in reversed(history):
        used += len(line.text) // CHARS_PER_TOKEN + 8
        if used > token_budget:
            break
        kept.append(line)
    return list(reversed(kept))


def to_chat_turns(
    turn: TurnInput, tz: ZoneInfo | None = None, *, token_budget: int | None = None
) -> list[ChatMessage]:
    """History then the new messages, marked as new; consecutive same-role lines are merged
    because the APIs require alternation starting with a user turn."""
    tz = tz or ZoneInfo(turn.timezone)
    history = turn.history if token_budget is None else trim_history(turn.history, token_budget)
    turns: list[ChatMessage] = []

    def add(role: str, text: str) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n" + text
        else:
            turns.append({"role": role, "content": text})

    for line in history:
        add(line.role, format_user_line(line, tz) if line.role == "user" else line.text)
    if history and turn.new_messages:
        add("user", NEW_MESSAGES_HEADER)
    for line in turn.new_messages:
        add("user", format_user_line(line, tz))
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns

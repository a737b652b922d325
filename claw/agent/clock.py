"""What the model is told about "now": date, weekday, time and timezone of the group.

One line, the same for every model (Claude, OpenAI-compatible, offline), appended to the turn's
last user message. It changes every minute, so it must come after everything the prompt cache
keeps (claw/agent/transcript.py places it; claw/agent/claude.py sets the breakpoints): in the
system prompt it would make every turn a cache miss.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

CLOCK_PREFIX = "(Now: "


def clock_line(now: datetime, timezone: str) -> str:
    """``(Now: Wednesday, 2 December 2026, 2:05 PM, Europe/Berlin, UTC+01:00)``.

    The weekday and the full date are spelled out so "tomorrow at 9" and "next Monday" need no
    calendar arithmetic from the model; the offset says how the time relates to UTC.
    """
    local = now.astimezone(ZoneInfo(timezone))
    offset = local.strftime("%z")
    day = f"{local.strftime('%A')}, {local.day} {local.strftime('%B %Y')}"
    time = local.strftime("%I:%M %p").lstrip("0")
    return f"{CLOCK_PREFIX}{day}, {time}, {timezone}, UTC{offset[:3]}:{offset[3:]})"

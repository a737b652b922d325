"""Request and response shapes of the HTTP API."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from claw.config import get_settings
from claw.db import Group

NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # printable: no control characters in ids and names

#: claw stores UTC; SQLite hands datetimes back without a zone, so the API adds it back
UtcDatetime = Annotated[
    datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=timezone.utc))
]


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat_id: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    text: str = Field(min_length=1, max_length=get_settings().api_max_text)
    sender: str = Field(default="user", min_length=1, max_length=100, pattern=NAME_PATTERN)
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    channel: Literal["http", "terminal", "web"] = "http"


class ReplyOut(BaseModel):
    id: int
    text: str
    created_at: UtcDatetime


class MessageAccepted(BaseModel):
    message_id: int
    group_id: str
    duplicate: bool = False
    reply: ReplyOut | None = None


class GroupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    channel: str
    chat_id: str
    name: str | None
    priority: bool
    is_main: bool
    timezone: str | None = None  #: the group's own; CLAW_TZ when None
    created_at: UtcDatetime

    @model_validator(mode="before")
    @classmethod
    def _timezone_from_settings(cls, value: Any) -> Any:
        if isinstance(value, Group):
            return {**{k: getattr(value, k) for k in ("id", "channel", "chat_id", "name", "priority",
                                                       "is_main", "created_at")},
                    "timezone": (value.settings or {}).get("timezone")}
        return value


def _known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}; use an IANA name like Europe/Berlin") from None
    return name


class GroupPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200, pattern=NAME_PATTERN)
    priority: bool | None = None
    is_main: bool | None = None
    #: the group's timezone, for `[Alice @ 2:34 PM]` stamps, schedules and memory dates
    timezone: Annotated[str, AfterValidator(_known_timezone)] | None = None


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    role: str
    kind: str  #: "chat", or "notice" for claw telling the group about itself
    sender: str
    text: str
    external_id: str | None
    created_at: UtcDatetime
    answered_by: int | None


class MessagePage(BaseModel):
    messages: list[MessageOut]


class GroupList(BaseModel):
    groups: list[GroupOut]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    redis: bool
    workers: list[str]
    beat: bool

"""Request and response shapes of the HTTP API."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from claw.api.group_path import unescape_group_id
from claw.config import get_settings
from claw.db import Group
from claw.db.models import MAX_ID
from claw.db.text import unstorable

#: request bodies are taken as the schema says: no unknown fields, no 0 for false nor 1 for "1"
REQUEST_BODY = ConfigDict(extra="forbid", strict=True)

NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # printable: no control characters in ids and names
TEXT_PATTERN = r"^[^\x00]*$"  # no NUL, which PostgreSQL cannot store in text


def _storable(value: Any) -> Any:
    # Before the str validator, so the client reads why rather than pydantic's "unable to parse
    # raw data as a unicode string" (a lone surrogate) or a 500 (NUL on PostgreSQL).
    if isinstance(value, str) and (problem := unstorable(value)):
        raise ValueError(problem)
    return value


#: text a database can store: no NUL, no lone surrogate (the ``\ud800`` a JSON escape can make);
#: the pattern puts the NUL rule in the OpenAPI schema (a field's own pattern would replace it)
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN), BeforeValidator(_storable)]


def _not_blank(value: Any) -> Any:
    # A message of spaces says nothing: a turn spent on it would answer nothing anyone asked
    if isinstance(value, str) and value and not value.strip():
        raise ValueError("the message text is only whitespace; say something")
    return value


#: the text of a message: storable and not only whitespace
MessageText = Annotated[Text, BeforeValidator(_not_blank)]
#: an id or a name: printable text
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN), BeforeValidator(_storable)]
#: an id of a database row: a BigInteger, so a larger number can name nothing
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="a row id")]
#: a group id in a path: ``<channel>:<chat_id>``
GroupId = Annotated[str, BeforeValidator(unescape_group_id), Path(min_length=1, max_length=255, pattern=NAME_PATTERN,
                              description="<channel>:<chat_id>, e.g. http:team")]

#: claw stores UTC; SQLite hands datetimes back without a zone, so the API adds it back
UtcDatetime = Annotated[
    datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=timezone.utc))
]


class MessageIn(BaseModel):
    model_config = REQUEST_BODY

    chat_id: Name = Field(min_length=1, max_length=200)
    text: MessageText = Field(min_length=1, max_length=get_settings().api_max_text)
    sender: Name = Field(default="user", min_length=1, max_length=100)
    #: names the message within its chat: a repeat is stored and answered once
    external_id: Text | None = Field(default=None, min_length=1, max_length=255)
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
    #: "mention": answers only messages that address claw; "always": every message
    respond: Literal["mention", "always"] = "always"
    #: "approved", "waiting" (for the owner to approve its pairing code) or "blocked"
    access: Literal["approved", "waiting", "blocked"] = "approved"
    timezone: str | None = None  #: the group's own; CLAW_TZ when None
    #: whether the agent (and code in its sandbox) may use web_fetch and web_search
    web: bool = True
    created_at: UtcDatetime

    @model_validator(mode="before")
    @classmethod
    def _timezone_from_settings(cls, value: Any) -> Any:
        if isinstance(value, Group):
            return {**{k: getattr(value, k) for k in ("id", "channel", "chat_id", "name", "priority",
                                                       "is_main", "respond", "access",
                                                       "created_at")},
                    "timezone": (value.settings or {}).get("timezone"),
                    "web": (value.settings or {}).get("web", True) is not False}
        return value


def _known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}; use an IANA name like Europe/Berlin") from None
    return name


class GroupPatch(BaseModel):
    model_config = REQUEST_BODY

    name: Name | None = Field(default=None, min_length=1, max_length=200)
    priority: bool | None = None
    is_main: bool | None = None
    #: "mention": answer only messages that address claw (trigger word, @mention, reply to
    #: claw), keeping the rest as context; "always": answer every message
    respond: Literal["mention", "always"] | None = None
    #: the group's timezone, for `[Alice @ 2:34 PM]` stamps, schedules and memory dates
    timezone: Annotated[str, AfterValidator(_known_timezone)] | None = None
    #: false switches web_fetch and web_search off for this group (tools and sandbox IPC)
    web: bool | None = None


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

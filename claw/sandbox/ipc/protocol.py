"""The IPC wire format: one JSON object per file, both ways.

Request  requests/<id>.json   {"id": "<id>", "action": "send_message", "args": {...}}
Response responses/<id>.json  {"id": "<id>", "ok": true, "result": {...}}
                              {"id": "<id>", "ok": false, "error": "what was wrong"}

``<id>`` is the file's name, which the host checks against REQUEST_NAME and always uses to
name the response; an ``id`` inside the body, if present, must match it and is never used as
a path. Names starting with '.' are requests still being written and are left alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

REQUEST_NAME = re.compile(r"^(?P<id>[A-Za-z0-9_-]{1,64})\.json$")
MAX_REQUEST_BYTES = 64 * 1024
#: body fields that claim an identity: the host knows the group from the directory
IDENTITY_FIELDS = ("group", "group_id", "from", "sender", "chat_id", "is_main")


class ProtocolError(Exception):
    """A request the host refuses before looking at its action (the message is sent back)."""


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=64)
    action: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)


def validation_problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors())


def parse_request(request_id: str, data: bytes) -> Envelope:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"malformed request: not UTF-8 JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ProtocolError("malformed request: want a JSON object with action and args")
    claimed = [name for name in IDENTITY_FIELDS if name in body]
    if claimed:
        raise ProtocolError(
            f"a request cannot say who sent it ({', '.join(claimed)}): the host knows the group "
            "from the sandbox the request came from"
        )
    try:
        envelope = Envelope.model_validate(body)
    except ValidationError as exc:
        raise ProtocolError(f"malformed request: {validation_problems(exc)}") from None
    if envelope.id is not None and envelope.id != request_id:
        raise ProtocolError(f"the id in the request ({envelope.id!r}) is not its file name ({request_id!r})")
    return envelope


def ok_response(request_id: str, result: dict[str, Any]) -> bytes:
    return json.dumps({"id": request_id, "ok": True, "result": result}).encode()


def error_response(request_id: str, error: str) -> bytes:
    return json.dumps({"id": request_id, "ok": False, "error": error}).encode()

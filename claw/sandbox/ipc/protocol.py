"""The IPC wire format: one JSON object per file, both ways.

Request  requests/<id>.json   {"id": "<id>", "action": "send_message", "args": {...}}
Response responses/<id>.json  {"id": "<id>", "ok": true, "result": {...}}
                              {"id": "<id>", "ok": false, "error": "what was wrong"}

``<id>`` is the file's name, which the host checks against REQUEST_NAME and always uses to
name the response; an ``id`` inside the body, if present, must match it and is never used as
a path. Names starting with '.' are requests still being written and are left alone.

A body is parsed in bounded time and stack: its nesting depth is counted by one linear scan
before json.loads sees it (a 30,000-deep array would otherwise raise RecursionError), and every
way json can fail (bad UTF-8, bad syntax, an integer of 5,000 digits) is a ProtocolError.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

REQUEST_NAME = re.compile(r"^(?P<id>[A-Za-z0-9_-]{1,64})\.json$")
MAX_REQUEST_BYTES = 64 * 1024
#: deepest nesting of arrays and objects a request may have
MAX_DEPTH = 32
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


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in JSON ``text`` (brackets in strings do not count).

    Stops counting once past ``limit``: one pass, no recursion, whatever the input.
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif char in "]}":
            depth -= 1
    return deepest


def parse_request(request_id: str, data: bytes) -> Envelope:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"malformed request: not UTF-8 JSON ({exc.reason} at byte {exc.start})") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise ProtocolError(f"malformed request: nested more than {MAX_DEPTH} levels deep")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"malformed request: not UTF-8 JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer past int_max_str_digits
        raise ProtocolError(f"malformed request: {type(exc).__name__}: {str(exc)[:120]}") from None
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

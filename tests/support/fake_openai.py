"""A fake OpenAI-compatible server: a real HTTP server on 127.0.0.1 speaking Chat Completions.

Tests drive claw's provider through the real ``openai`` SDK against it, so retries, error
mapping and the wire format are exercised for real. Replies are scripted, one per request::

    fake = FakeOpenAI().start()
    fake.script(reply_error(500, "boom"), reply_tool_calls([("add", {"a": 1}, None)]),
                lambda request: reply_text(f"saw {len(request['messages'])} messages"))
    provider = OpenAIProvider(model="m", base_url=fake.url, api_key="sk-test")

With nothing scripted the server answers the text "ok". Every request is kept in
``fake.requests`` (path, headers, JSON body). Error replies carry ``retry-after-ms: 10``, which
the SDK honours instead of its exponential backoff, so retry tests stay fast.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer

Reply = dict[str, Any]  #: {"status": int, "body": dict, "headers": dict}
Scripted = Reply | Callable[[dict[str, Any]], Reply]

_ids = itertools.count(1)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  #: lower-cased names
    json: dict[str, Any] = field(default_factory=dict)


def _usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens}}


def _completion(message: dict[str, Any], finish_reason: str,
                usage: dict[str, Any] | None) -> Reply:
    body: dict[str, Any] = {
        "id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "created": int(time.time()),
        "model": "", "system_fingerprint": None,  # model: filled in from the request
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason,
                     "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage
    return {"status": 200, "body": body, "headers": {}}


def reply_text(text: str, *, prompt_tokens: int = 10, completion_tokens: int = 5,
               cached_tokens: int = 0, finish_reason: str = "stop",
               with_usage: bool = True) -> Reply:
    """An assistant text answer; ``with_usage=False`` imitates servers that omit usage."""
    usage = _usage(prompt_tokens, completion_tokens, cached_tokens) if with_usage else None
    return _completion({"role": "assistant", "content": text}, finish_reason, usage)


def reply_tool_calls(calls: list[tuple[str, dict[str, Any] | str, str | None]], *,
                     text: str | None = None, prompt_tokens: int = 10,
                     completion_tokens: int = 5) -> Reply:
    """Tool calls ``(name, arguments, call_id)``: a dict is JSON-encoded, a string sent raw
    (to imitate a model writing invalid JSON); a None id gets a generated one."""
    tool_calls = [
        {"id": call_id or f"call_{next(_ids)}", "type": "function",
         "function": {"name": name,
                      "arguments": args if isinstance(args, str) else json.dumps(args)}}
        for name, args, call_id in calls
    ]
    message = {"role": "assistant", "content": text, "tool_calls": tool_calls}
    return _completion(message, "tool_calls", _usage(prompt_tokens, completion_tokens, 0))


def reply_error(status: int, message: str) -> Reply:
    """An error in OpenAI's shape; the SDK retries 408/409/429/5xx and raises the rest."""
    error_types = {400: "invalid_request_error", 401: "invalid_request_error",
                   404: "invalid_request_error", 429: "rate_limit_exceeded"}
    error_type = error_types.get(status, "server_error")
    code = {401: "invalid_api_key", 404: "model_not_found"}.get(status)
    return {"status": status, "headers": {"retry-after-ms": "10"},
            "body": {"error": {"message": message, "type": error_type, "param": None,
                               "code": code}}}


class FakeOpenAI(LoopbackServer):
    reply_text = staticmethod(reply_text)
    reply_tool_calls = staticmethod(reply_tool_calls)
    reply_error = staticmethod(reply_error)

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self._script: deque[Scripted] = deque()
        super().__init__()

    @property
    def url(self) -> str:
        """The base url as the SDK wants it, ``/v1`` included."""
        return f"{super().url}/v1"

    def script(self, *replies: Scripted) -> None:
        """Queue replies, one per request; a callable computes its reply from the request JSON."""
        with self.lock:
            self._script.extend(replies)

    def _next_reply(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        with self.lock:
            self.requests.append(RecordedRequest(path, headers, body))
            scripted = self._script.popleft() if self._script else None
        if path.rstrip("/") != "/v1/chat/completions":
            return reply_error(404, f"no route {path} in the fake OpenAI server")
        if body.get("stream"):
            return reply_error(400, "the fake OpenAI server does not stream")
        reply = scripted(body) if callable(scripted) else scripted
        reply = reply if reply is not None else reply_text("ok")
        if reply["status"] == 200 and not reply["body"]["model"]:
            reply = {**reply, "body": {**reply["body"], "model": body.get("model", "")}}
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_invalid_json": raw.decode(errors="replace")}
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake._next_reply(self.path, headers, body)
                payload = json.dumps(reply["body"]).encode()
                self.send_response(reply["status"])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.get("headers", {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler

"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1 that the real SDK talks to.

POST /v1/messages answers with a `FakeResponse` that a subclass builds from the request
(``respond``): plain JSON, or, when the request asks for ``"stream": true``, the real
server-sent event sequence (message_start, content_block_start, content_block_delta...,
content_block_stop, message_delta, message_stop). A response can also misbehave the ways the
real service does: an HTTP error (429, 529, 500), a hang past the client's timeout, a stream
that stalls, an ``event: error`` inside a stream, or a stream cut off mid-way.

`claw chaos` scripts it from a seed (claw/chaos/fakes/model.py); the test suite scripts it
response by response (tests/support/fake_anthropic.py).

Error responses carry ``retry-after-ms: 10``: the SDK sleeps exactly what that header asks
(instead of its 0.5 s .. 8 s exponential backoff), so retries take milliseconds.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any

from claw.chaos.fakes.loopback import LoopbackServer

#: what the SDK is told to wait before retrying an error response, in milliseconds
RETRY_AFTER_MS = 10
#: characters per text_delta / input_json_delta event, so streaming is really incremental
DELTA_SIZE = 4


@dataclass
class FakeResponse:
    status: int
    body: dict[str, Any]  #: a Message (status 200) or an error body
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  #: seconds to wait before answering, to provoke client timeouts
    stall: float = 0.0  #: seconds a stream pauses after message_start (a mid-stream timeout)
    stream_error: dict[str, Any] | None = None  #: an `event: error` sent after message_start
    cut_after: int | None = None  #: events sent before the connection is dropped mid-stream


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  #: lower-cased names
    body: dict[str, Any]


def _message(content: list[dict[str, Any]], stop_reason: str, *, input_tokens: int,
             output_tokens: int, cache_read: int, cache_write: int) -> FakeResponse:
    return FakeResponse(200, {
        "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
        "model": "", "content": content, "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write},
    })


def reply_text(text: str, *, input_tokens: int = 10, output_tokens: int = 5, cache_read: int = 0,
               cache_write: int = 0) -> FakeResponse:
    return _message([{"type": "text", "text": text}], "end_turn", input_tokens=input_tokens,
                    output_tokens=output_tokens, cache_read=cache_read, cache_write=cache_write)


def reply_tool_use(name: str, input: dict[str, Any], *, tool_id: str | None = None,
                   text: str | None = None, input_tokens: int = 10, output_tokens: int = 5,
                   cache_read: int = 0, cache_write: int = 0) -> FakeResponse:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.append({"type": "tool_use", "id": tool_id or f"toolu_{uuid.uuid4().hex[:24]}",
                    "name": name, "input": input})
    return _message(content, "tool_use", input_tokens=input_tokens, output_tokens=output_tokens,
                    cache_read=cache_read, cache_write=cache_write)


def reply_error(status: int, error_type: str, message: str) -> FakeResponse:
    """An HTTP error as the API sends it; for 529 the real error_type is "overloaded_error"."""
    return FakeResponse(status, {"type": "error", "error": {"type": error_type, "message": message}},
                        {"retry-after-ms": str(RETRY_AFTER_MS)})


def reply_stream_error(error_type: str, message: str) -> FakeResponse:
    """A stream that starts (HTTP 200) and then fails; the SDK cannot retry these itself."""
    response = reply_text("")
    response.stream_error = {"type": "error", "error": {"type": error_type, "message": message}}
    return response


def sse_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The server-sent events the real API streams for ``message``."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None,
             "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        # Blocks start empty and fill through deltas: text pieces, or pieces of the input JSON.
        if block["type"] == "text":
            empty, key, kind, payload = {**block, "text": ""}, "text", "text_delta", block["text"]
        else:
            empty, key, kind = {**block, "input": {}}, "partial_json", "input_json_delta"
            payload = json.dumps(block["input"])
        yield "content_block_start", {"type": "content_block_start", "index": index,
                                      "content_block": empty}
        for at in range(0, len(payload), DELTA_SIZE):
            delta = {"type": kind, key: payload[at:at + DELTA_SIZE]}
            yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                            "usage": {"output_tokens": usage["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}


class AnthropicServer(LoopbackServer):
    """The protocol; subclasses decide what each request gets by overriding ``respond``.

    ``client_port`` is the caller's TCP port: with it a harness can tell which process is
    waiting on a model call right now (its socket's local port).
    """

    #: record every request in ``requests`` (tests read them; a long chaos run would not)
    keep_requests = True

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        super().__init__()

    def respond(self, body: dict[str, Any], client_port: int) -> FakeResponse:
        return reply_text("ok")

    def finished(self, client_port: int) -> None:
        """Called when a request is answered (or its client gone)."""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as the real API

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                if fake.keep_requests:
                    with fake.lock:
                        fake.requests.append(RecordedRequest(self.path, headers, body))
                if self.path.split("?")[0] != "/v1/messages":
                    self._json(reply_error(404, "not_found_error", f"no route {self.path}"))
                    return
                port = int(self.client_address[1])
                try:
                    response = fake.respond(body, port)
                    time.sleep(response.delay)
                    if response.status == 200:
                        response = replace(response, body={**response.body, "model": body.get("model", "")})
                    if response.status == 200 and body.get("stream"):
                        self._stream(response)
                    else:
                        self._json(response)
                except ConnectionError:
                    self.close_connection = True  # the client gave up (timeout): nothing to tell
                finally:
                    fake.finished(port)

            def _start(self, response: FakeResponse, content_type: str) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", content_type)
                self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
                for name, value in response.headers.items():
                    self.send_header(name, value)

            def _json(self, response: FakeResponse) -> None:
                data = json.dumps(response.body).encode()
                self._start(response, "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, response: FakeResponse) -> None:
                self._start(response, "text/event-stream; charset=utf-8")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                events = list(sse_events(response.body))
                if response.stream_error is not None:
                    events = [events[0], ("error", response.stream_error)]
                for sent, (name, data) in enumerate(events):
                    if response.cut_after is not None and sent >= response.cut_after:
                        self._cut()
                        return
                    if name == "content_block_start" and data["index"] == 0:
                        time.sleep(response.stall)
                    chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def _cut(self) -> None:
                """Drop the connection mid-stream, as a proxy or the network does."""
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        return Handler

"""A fake Anthropic Messages API for tests, scripted one response per request.

The protocol (JSON and server-sent event streams, errors, stalls) lives in
claw/chaos/fakes/anthropic.py, shared with `claw chaos`; this adds the test script: a queue of
responses, one per request. An empty script answers "ok", or ``otherwise`` when set (an outage:
every request fails until it is cleared). A script entry is a `FakeResponse` or a callable that
builds one from the request body, so a test can echo what it was sent.

    fake = FakeAnthropic().start()
    fake.script(reply_error(529, "overloaded_error", "Overloaded"), reply_text("hi"))
    ClaudeProvider(model="m", api_key="k", base_url=fake.url)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from claw.chaos.fakes.anthropic import (
    DELTA_SIZE,
    RETRY_AFTER_MS,
    AnthropicServer,
    FakeResponse,
    RecordedRequest,
    reply_error,
    reply_stream_error,
    reply_text,
    reply_tool_use,
)

__all__ = [
    "DELTA_SIZE",
    "RETRY_AFTER_MS",
    "FakeAnthropic",
    "FakeResponse",
    "RecordedRequest",
    "Script",
    "reply_error",
    "reply_stream_error",
    "reply_text",
    "reply_tool_use",
]

Script = FakeResponse | Callable[[dict[str, Any]], FakeResponse]


class FakeAnthropic(AnthropicServer):
    def __init__(self) -> None:
        self._script: deque[Script] = deque()
        #: the answer once the script is used up; None answers "ok"
        self.otherwise: Script | None = None
        super().__init__()

    def script(self, *responses: Script) -> None:
        with self.lock:
            self._script.extend(responses)

    def respond(self, body: dict[str, Any], client_port: int) -> FakeResponse:
        with self.lock:
            entry = self._script.popleft() if self._script else (self.otherwise or reply_text("ok"))
        return entry(body) if callable(entry) else entry

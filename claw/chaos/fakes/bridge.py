"""A fake WhatsApp bridge for `claw chaos`: the bridge protocol on 127.0.0.1, with a switch
that takes its send endpoint down (HTTP 503) while polling keeps working.

GET /messages?since=<cursor> returns the messages after the cursor (an index) and the new
cursor; POST /send records what claw delivered, in arrival order: that list is what the chat's
members would have seen, so the chaos tally reads replies, duplicates and order from it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from claw.chaos.fakes.loopback import LoopbackServer


@dataclass(frozen=True, slots=True)
class Delivered:
    chat_id: str
    text: str
    at: float  #: time.monotonic() when the bridge accepted it


class ChaosBridge(LoopbackServer):
    def __init__(self) -> None:
        self.inbox: list[dict[str, object]] = []
        self.sent: list[Delivered] = []
        self.refused_sends = 0
        self.send_down = False  #: /send answers 503; /messages still works
        self.lock = threading.Lock()
        super().__init__()

    def add(self, chat_id: str, sender: str, text: str) -> str:
        """A message a chat member writes; returns the bridge's message id."""
        with self.lock:
            message_id = f"wamid.chaos.{len(self.inbox) + 1}"
            self.inbox.append({"id": message_id, "chat_id": chat_id, "sender": sender,
                               "text": text, "timestamp": int(time.time())})
            return message_id

    def deliveries(self) -> list[Delivered]:
        with self.lock:
            return list(self.sent)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path != "/messages":
                    return self._reply(404, b"{}")
                since = parse_qs(url.query).get("since", [""])[0]
                start = int(since) if since.isdigit() else 0
                with bridge.lock:
                    page = bridge.inbox[start:]
                    cursor = str(len(bridge.inbox))
                self._reply(200, json.dumps({"messages": page, "cursor": cursor}).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/send":
                    return self._reply(404, b"{}")
                with bridge.lock:
                    down = bridge.send_down
                    if down:
                        bridge.refused_sends += 1
                    else:
                        bridge.sent.append(Delivered(str(payload.get("chat_id")),
                                                     str(payload.get("text")), time.monotonic()))
                if down:
                    return self._reply(503, b'{"error":"bridge cannot send right now"}')
                self._reply(200, b'{"ok":true}')

        return Handler

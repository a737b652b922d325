"""A fake WhatsApp bridge: a real HTTP server on 127.0.0.1 speaking the bridge protocol.

GET /messages?since=<cursor> returns messages after the cursor (an index) and the new cursor;
POST /send records what claw delivered. ``mode`` makes it fail ("down": HTTP 500) or answer
garbage ("garbage": not JSON; "wrong-shape": JSON without the fields) on both routes.
``refuse_sends`` makes only /send fail (503, with ``Retry-After`` when ``retry_after`` is set);
every refused attempt is kept in ``refused``. ``send_delay`` slows /send down, and
``most_in_flight`` records the most sends to one chat the bridge ever had at once.
``add_raw`` queues an item exactly as given (media, broken items).

``shape = "tutorial"`` makes it speak as the tutorial's bridge does: GET /messages hands out
the items added with ``add_tutorial`` that it has not handed out yet, as
``{"messages": [{"chat_jid", "sender", "content", "timestamp"}]}`` with no ids and no cursor
(``since`` is ignored), and POST /send takes ``{"chat_id", "message"}`` (400 without
``message``). ``hand_out_again(n)`` hands the last ``n`` items out once more, as such a bridge
does after a restart or when its answer was lost.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.loopback import LoopbackServer


class FakeBridge(LoopbackServer):
    def __init__(self) -> None:
        self.inbox: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.mode = "ok"
        self.refuse_sends = False  #: only /send fails (HTTP 503); polling still works
        self.retry_after: float | None = None  #: sent as Retry-After with a refused send
        self.refused: list[tuple[float, dict[str, Any]]] = []  #: (monotonic time, payload)
        self.send_delay = 0.0
        #: called with each accepted send's payload while the bridge handles it (before it
        #: answers), so a test can act mid-send, e.g. take the chat's send lock from the sender
        self.while_sending: Callable[[dict[str, Any]], None] | None = None
        self.in_flight: dict[str, int] = {}
        self.most_in_flight = 0
        self.polls = 0
        self.shape = "cursor"  #: "cursor" (claw's protocol) | "tutorial" (the setup document's bridge)
        self.tutorial_inbox: list[dict[str, Any]] = []
        self.handed_out = 0  #: tutorial items handed out so far
        self.asked_since: list[str] = []  #: the cursor of each GET /messages, in order
        self.lock = threading.Lock()
        super().__init__()

    def reset(self) -> None:
        with self.lock:
            self.inbox.clear()
            self.sent.clear()
            self.refused.clear()
            self.mode = "ok"
            self.refuse_sends = False
            self.retry_after = None
            self.send_delay = 0.0
            self.while_sending = None
            self.in_flight.clear()
            self.most_in_flight = 0
            self.polls = 0
            self.shape = "cursor"
            self.tutorial_inbox.clear()
            self.handed_out = 0
            self.asked_since.clear()

    def add_tutorial(self, chat_jid: str, sender: str, content: str, *, timestamp: Any = None,
                     **extra: Any) -> None:
        """Queue a message as the tutorial's bridge has it; timestamps count up by default."""
        with self.lock:
            stamp = 1_700_000_000 + len(self.tutorial_inbox) if timestamp is None else timestamp
            self.tutorial_inbox.append({"chat_jid": chat_jid, "sender": sender, "content": content,
                                        "timestamp": stamp, **extra})

    def hand_out_again(self, count: int) -> None:
        with self.lock:
            self.handed_out = max(0, self.handed_out - count)

    def add_raw(self, item: Any) -> None:
        with self.lock:
            self.inbox.append(item)

    def add(self, chat_id: str, sender: str, text: str, message_id: str | None = None) -> str:
        with self.lock:
            message_id = message_id or f"wamid.{len(self.inbox) + 1}"
            self.inbox.append({"id": message_id, "chat_id": chat_id, "sender": sender,
                               "text": text, "timestamp": 1_700_000_000 + len(self.inbox)})
            return message_id

    def sent_to(self, chat_id: str) -> list[str]:
        with self.lock:
            return [s["text"] if "text" in s else s["message"] for s in self.sent if s["chat_id"] == chat_id]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _misbehave(self) -> bool:
                if bridge.mode == "down":
                    self._reply(500, b'{"error":"bridge down"}')
                elif bridge.mode == "garbage":
                    self._reply(200, b"<html>not json")
                elif bridge.mode == "wrong-shape":
                    self._reply(200, b'{"items": 3}')
                else:
                    return False
                return True

            def do_GET(self) -> None:
                url = urlparse(self.path)
                with bridge.lock:
                    bridge.polls += 1
                if url.path != "/messages":
                    return self._reply(404, b"{}")
                if self._misbehave():
                    return
                if bridge.shape == "tutorial":
                    with bridge.lock:
                        page = bridge.tutorial_inbox[bridge.handed_out:]
                        bridge.handed_out = len(bridge.tutorial_inbox)
                    return self._reply(200, json.dumps({"messages": page}).encode())
                since = parse_qs(url.query).get("since", [""])[0]
                with bridge.lock:
                    bridge.asked_since.append(since)
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
                if bridge.refuse_sends or bridge.mode in ("down", "garbage", "wrong-shape"):
                    with bridge.lock:
                        bridge.refused.append((time.monotonic(), payload))
                    wait = {} if bridge.retry_after is None else {"Retry-After": str(bridge.retry_after)}
                    return self._reply(503, b'{"error":"cannot send"}', wait)
                if bridge.shape == "tutorial" and not isinstance(payload.get("message"), str):
                    return self._reply(400, b'{"error":"message is required"}')
                chat = str(payload.get("chat_id"))
                with bridge.lock:
                    bridge.in_flight[chat] = bridge.in_flight.get(chat, 0) + 1
                    bridge.most_in_flight = max(bridge.most_in_flight, bridge.in_flight[chat])
                time.sleep(bridge.send_delay)
                if bridge.while_sending is not None:
                    bridge.while_sending(payload)
                with bridge.lock:
                    bridge.in_flight[chat] -= 1
                    bridge.sent.append(payload)
                self._reply(200, b'{"ok":true}')

        return Handler

"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 serving /bot<TOKEN>/<method>.

getUpdates keeps Telegram's offset semantics: updates below the ``offset`` a call is made with
are confirmed and dropped for good; until then every call returns them again. ``allowed_updates``
filters update kinds as Telegram does (``filter_updates = False`` sends every kind anyway).
getMe answers the bot's id and username (BOT_ID, BOT_USERNAME).
sendMessage records what claw sent and refuses an empty or over-long text like Telegram.
A wrong token gets 401. ``mode`` makes both methods fail: "bad-gateway" (HTTP 502 page),
"garbage" (200, not JSON), "conflict" (409 ok:false, as with a second poller), "not-ok"
(200 with ok:false), "wrong-shape" (200, JSON that is not an answer); ``refuse_sends`` makes only sendMessage fail (429 with ``retry_after``
seconds), and ``sends_before_outage`` lets that many more sendMessage calls through, then
answers 502 (a reply cut off midway). Refused sends are kept in ``refused`` with their time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.support.loopback import LoopbackServer

TOKEN = "123456789:AAF-test_TOKEN-0123456789abcdefghij"
BOT_ID = 123456789  #: the bot's user id (a token starts with it); getMe answers it
BOT_USERNAME = "claw_test_bot"
MESSAGE_LIMIT = 4096


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram(LoopbackServer):
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []  #: not yet confirmed
        self.sent: list[dict[str, Any]] = []
        self.chat_actions: list[dict[str, Any]] = []  #: sendChatAction calls ("typing")
        self.offsets: list[int | None] = []  #: the offset of every getUpdates call
        self.allowed_updates: list[str] | None = None
        self.filter_updates = True
        self.mode = "ok"
        self.refuse_sends = False
        self.retry_after = 1
        self.sends_before_outage: int | None = None
        #: called with each sendMessage payload it takes while it handles it (before it
        #: answers), so a test can act mid-send, e.g. take the chat's send lock from the sender
        self.while_sending: Callable[[dict[str, Any]], None] | None = None
        self.refused: list[tuple[float, dict[str, Any]]] = []  #: (monotonic time, payload)
        self.polls = 0
        self.me_calls = 0  #: getMe calls
        self.get_me_fails = False  #: getMe answers 502 (getUpdates still works)
        self.next_update_id = 500_000
        self.next_message_id: dict[int, int] = {}
        self.lock = threading.Lock()
        super().__init__()

    def reset(self) -> None:
        with self.lock:
            self.updates.clear()
            self.sent.clear()
            self.chat_actions.clear()
            self.offsets.clear()
            self.allowed_updates = None
            self.filter_updates = True
            self.mode = "ok"
            self.refuse_sends = False
            self.retry_after = 1
            self.sends_before_outage = None
            self.while_sending = None
            self.refused.clear()
            self.polls = 0
            self.me_calls = 0
            self.get_me_fails = False

    # ---- what people do in Telegram ------------------------------------------------------

    def add_update(self, kind: str, payload: dict[str, Any]) -> int:
        with self.lock:
            self.next_update_id += 1
            self.updates.append({"update_id": self.next_update_id, kind: payload})
            return self.next_update_id

    def add_message(
        self, chat_id: int, first_name: str, text: str | None, *, message_id: int | None = None,
        last_name: str | None = None, username: str | None = None, user_id: int | None = None,
        **extra: Any,
    ) -> int:
        """A message in a group (a DM when ``chat_id`` is positive: Telegram's private chats
        have the user's id); returns its message_id (counted per chat, as Telegram does).
        ``extra`` adds fields as they are: ``entities``, ``reply_to_message``..."""
        with self.lock:
            if message_id is None:
                message_id = self.next_message_id.get(chat_id, 0) + 1
            self.next_message_id[chat_id] = max(self.next_message_id.get(chat_id, 0), message_id)
        sender: dict[str, Any] = {"id": user_id or abs(hash(first_name)) % 10**9, "is_bot": False}
        if first_name:
            sender["first_name"] = first_name
        if last_name:
            sender["last_name"] = last_name
        if username:
            sender["username"] = username
        message: dict[str, Any] = {
            "message_id": message_id, "from": sender, "date": int(time.time()),
            "chat": ({"id": chat_id, "title": f"group {chat_id}", "type": "supergroup"} if chat_id < 0
                     else {"id": chat_id, "first_name": first_name, "type": "private"}),
            **extra,
        }
        if text is not None:
            message["text"] = text
        self.add_update("message", message)
        return message_id

    def mention(self, text: str) -> list[dict[str, Any]]:
        """The ``entities`` Telegram gives a text that @mentions the bot by its username."""
        handle = f"@{BOT_USERNAME}"
        return [{"type": "mention", "offset": utf16_len(text[:text.index(handle)]),
                 "length": len(handle)}]

    def reply_to_bot(self, chat_id: int, text: str) -> dict[str, Any]:
        """A ``reply_to_message`` field: a reply to one of the bot's messages."""
        return {"message_id": 1, "chat": {"id": chat_id}, "text": text,
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "claw", "username": BOT_USERNAME}}

    def sent_to(self, chat_id: int) -> list[str]:
        with self.lock:
            return [s["text"] for s in self.sent if str(s["chat_id"]) == str(chat_id)]

    # ---- the Bot API -----------------------------------------------------------------------

    def _get_updates(self, query: dict[str, list[str]]) -> dict[str, Any]:
        offset = int(query["offset"][0]) if "offset" in query else None
        limit = int(query.get("limit", ["100"])[0])
        with self.lock:
            self.offsets.append(offset)
            if "allowed_updates" in query:
                self.allowed_updates = json.loads(query["allowed_updates"][0])
            if offset is not None:  # confirmed: gone for good
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            updates = [
                u for u in self.updates
                if not self.filter_updates or self.allowed_updates is None
                or any(kind in u for kind in self.allowed_updates)
            ]
        return {"ok": True, "result": updates[:limit]}

    def _send_message(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        text = payload.get("text")
        if "chat_id" not in payload or not isinstance(text, str) or not text.strip():
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if utf16_len(text) > MESSAGE_LIMIT:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        with self.lock:
            self.sent.append({"chat_id": payload["chat_id"], "text": text})
            message_id = len(self.sent)
        chat = {"id": payload["chat_id"], "type": "supergroup"}
        return 200, {"ok": True, "result": {"message_id": message_id, "chat": chat,
                                            "date": int(time.time()), "text": text}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, value: dict[str, Any]) -> None:
                self._reply(code, json.dumps(value).encode())

            def _method(self) -> str | None:
                """The Bot API method, after answering a wrong token or a failure mode."""
                parts = unquote(urlparse(self.path).path).split("/")
                if len(parts) != 3 or not parts[1].startswith("bot"):
                    self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return None
                if parts[1][3:] != fake.token:
                    self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return None
                if fake.mode == "bad-gateway":
                    self._reply(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
                elif fake.mode == "garbage":
                    self._reply(200, b"<html>definitely not json", "text/html")
                elif fake.mode == "conflict":
                    self._json(409, {"ok": False, "error_code": 409, "description":
                                     "Conflict: terminated by other getUpdates request"})
                elif fake.mode == "not-ok":
                    self._json(200, {"ok": False, "description": "Internal error, try later"})
                elif fake.mode == "wrong-shape":
                    self._json(200, {"result": "not a list"})
                else:
                    return parts[2]
                return None

            def do_GET(self) -> None:
                with fake.lock:
                    fake.polls += 1
                method = self._method()
                if method is None:
                    return
                if method == "getMe":
                    with fake.lock:
                        fake.me_calls += 1
                    if fake.get_me_fails:
                        return self._reply(502, b"<html>502 Bad Gateway</html>", "text/html")
                    return self._json(200, {"ok": True, "result": {
                        "id": BOT_ID, "is_bot": True, "first_name": "claw", "username": BOT_USERNAME}})
                if method != "getUpdates":
                    return self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                self._json(200, fake._get_updates(parse_qs(urlparse(self.path).query)))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                method = self._method()
                if method is None:
                    return
                if method == "sendChatAction":
                    with fake.lock:
                        fake.chat_actions.append(json.loads(raw or b"{}"))
                    return self._json(200, {"ok": True, "result": True})
                if method != "sendMessage":
                    return self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    return self._json(400, {"ok": False, "error_code": 400,
                                            "description": "Bad Request: invalid JSON"})
                with fake.lock:
                    outage = fake.sends_before_outage is not None and fake.sends_before_outage <= 0
                    if fake.sends_before_outage is not None:
                        fake.sends_before_outage -= 1
                    if fake.refuse_sends or outage:
                        fake.refused.append((time.monotonic(), payload))
                if fake.refuse_sends:
                    return self._json(429, {"ok": False, "error_code": 429, "description":
                                            f"Too Many Requests: retry after {fake.retry_after}",
                                            "parameters": {"retry_after": fake.retry_after}})
                if outage:
                    return self._reply(502, b"<html>502 Bad Gateway</html>", "text/html")
                if fake.while_sending is not None:
                    fake.while_sending(payload)
                self._json(*fake._send_message(payload))

        return Handler

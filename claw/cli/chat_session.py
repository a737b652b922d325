"""One `claw chat` session: what it has shown and waits for, and how a typed line is sent.

The event stream's thread and the input loop both feed ``Conversation``; a reply is shown
once (by outbox id), and not again when it was part of the history shown at the start. A
line is posted without waiting for its answer (the answer comes on the stream like everything
else claw delivers); a post that fails because the stack is restarting is retried for
SEND_RETRY_SECONDS and said in one line, never a traceback.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx

from claw.cli.chat_screen import Screen
from claw.cli.common import group_path

#: messages of the group shown when the chat opens
HISTORY_MESSAGES = 10
#: how long a failed send is retried (the stack restarting) before the line is given up
SEND_RETRY_SECONDS = 60.0


class Conversation:
    """What one `claw chat` has shown and what it waits for, fed by the event stream's thread
    and the input loop. A reply is shown once (by outbox id) and never again when it was part
    of the history shown at the start."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._ready = False
        self._early: list[dict[str, Any]] = []  #: deliveries that came before the history
        self._history_upto = 0  #: messages up to this id were shown as history
        self._shown: set[int] = set()
        self._awaiting = 0  #: the newest message typed here that no reply answers yet
        self._typing_shown = False
        self._was_connected = False

    def begin(self, history: list[dict[str, Any]]) -> None:
        """Show the history, then whatever was delivered while it was fetched."""
        with self._lock:
            if history:
                self.screen.note(f"(the last {len(history)} messages)")
            for message in history:
                if message["role"] == "assistant":
                    self.screen.claw(message["text"], message.get("kind") or "chat")
                else:
                    self.screen.person(message["sender"], message["text"])
                self._history_upto = max(self._history_upto, message["id"])
            self._ready = True
            for data in self._early:
                self._show_reply(data)
            self._early.clear()

    def on_reply(self, data: dict[str, Any]) -> None:
        with self._lock:
            if self._ready:
                self._show_reply(data)
            else:
                self._early.append(data)

    def _show_reply(self, data: dict[str, Any]) -> None:
        outbox_id, message_id = int(data["outbox_id"]), int(data.get("message_id") or 0)
        if outbox_id in self._shown or (message_id and message_id <= self._history_upto):
            return
        self._shown.add(outbox_id)
        self._typing_shown = False
        self.screen.claw(str(data.get("text", "")), str(data.get("kind") or "chat"))
        if int(data.get("answers_upto_id") or 0) >= self._awaiting:
            self._awaiting = 0
            self._answered.notify_all()

    def on_typing(self) -> None:
        with self._lock:
            if self._ready and not self._typing_shown:
                self._typing_shown = True
                self.screen.note("claw is typing…")

    def on_connection(self, connected: bool) -> None:
        if not connected:
            self.screen.note("(lost the connection to claw; reconnecting…)")
        elif self._was_connected:
            self.screen.note("(connected to claw again)")
        self._was_connected = self._was_connected or connected

    def sent(self, message_id: int) -> None:
        with self._lock:
            self._awaiting = max(self._awaiting, message_id)

    def wait_answered(self, timeout: float) -> bool:
        with self._lock:
            return self._answered.wait_for(lambda: self._awaiting == 0, timeout)


def recent_messages(client: httpx.Client, group_id: str) -> list[dict[str, Any]] | None:
    """The group's last messages, oldest first; None when the group does not exist yet."""
    response = client.get(f"{group_path(group_id)}/messages",
                          params={"newest": True, "limit": HISTORY_MESSAGES}, timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()["messages"]


def error_of(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.text)
    except ValueError:
        return response.text or f"HTTP {response.status_code}"


def send_line(client: httpx.Client, group: str, text: str, sender: str, screen: Screen,
              channel: str = "terminal") -> int | None:
    """Post one typed line, retrying while the stack is unreachable or answers 5xx; its id, or
    None when it was not sent (said in one line). The external id makes a retry of a post that
    did arrive store nothing twice."""
    body = {"chat_id": group, "text": text, "sender": sender, "channel": channel,
            "external_id": f"chat-{uuid.uuid4().hex}"}
    deadline = time.monotonic() + SEND_RETRY_SECONDS
    delay, told = 0.5, False
    while True:
        try:
            response = client.post("/v1/messages", json=body, timeout=10)
            if response.status_code < 500:
                break
            problem = f"claw answered {response.status_code}"
        except httpx.HTTPError:
            problem = "cannot reach claw"
        if time.monotonic() + delay > deadline:
            screen.note(f"not sent: {problem}. Is `claw up` running? Type the line again once it is.")
            return None
        if not told:
            told = True
            screen.note(f"{problem} (restarting?); trying again for {SEND_RETRY_SECONDS:.0f} s, Ctrl-C to stop")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    if response.status_code >= 400:
        screen.note(f"not sent: {error_of(response)}")
        return None
    if told:
        screen.note("sent")
    return int(response.json()["message_id"])

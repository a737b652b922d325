"""`claw chat` and `claw send`: the terminal channel.

`claw chat` shows the group's last messages, then everything claw delivers to the group as it
is delivered (replies, reminders, results of scheduled prompts, messages from code, notices),
from the group's event stream (claw/cli/chat_events.py), not only the answer to the line just
typed. A line typed is posted without waiting: its answer arrives like everything else. A send
that fails because the stack is restarting is retried for SEND_RETRY_SECONDS, said in one line.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Annotated, Any

import httpx
import typer

from claw.cli.chat_events import GroupEvents
from claw.cli.chat_screen import Screen
from claw.cli.common import api_client, cli, client_settings

#: messages of the group shown when the chat opens
HISTORY_MESSAGES = 10
#: how long a failed send is retried (the stack restarting) before the line is given up
SEND_RETRY_SECONDS = 60.0
#: how long the chat waits for the event stream before it shows the history anyway
CONNECT_WAIT_SECONDS = 5.0
#: with input piped in, how long the chat waits after the last line for its answer
PIPED_REPLY_WAIT_SECONDS = 120.0
#: the event stream's read timeout: well over the server's 15 s keep-alive
STREAM_TIMEOUT = httpx.Timeout(45.0, connect=5.0)
LEAVE_WORDS = {"quit", "exit", "/quit", "/exit"}


@cli.command()
def send(
    group: Annotated[str, typer.Argument(help="chat name; the group is terminal:<name>")],
    text: Annotated[str, typer.Argument(help="message text")],
    sender: Annotated[str, typer.Option(help="who is speaking")] = os.environ.get("USER", "you"),
    wait: Annotated[float, typer.Option(help="seconds to wait for the reply")] = 60,
) -> None:
    """Send one message to the running stack and print the reply."""
    with api_client(client_settings()) as client:
        reply = _post(client, group, text, sender, wait)
    if reply is None:
        typer.secho("no reply yet; it will appear in the group's messages", fg="yellow", err=True)
        raise typer.Exit(1)
    typer.echo(reply)


def _post(client: httpx.Client, group: str, text: str, sender: str, wait: float) -> str | None:
    try:
        response = client.post(
            "/v1/messages",
            params={"wait": wait},
            json={"chat_id": group, "text": text, "sender": sender, "channel": "terminal"},
        )
    except httpx.HTTPError as exc:
        typer.secho(f"cannot reach the claw API ({type(exc).__name__}); is `claw up` running?", fg="red", err=True)
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        typer.secho(f"error {response.status_code}: {response.text}", fg="red", err=True)
        raise typer.Exit(2)
    reply = response.json().get("reply")
    return reply["text"] if reply else None


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


def _recent(client: httpx.Client, group_id: str) -> list[dict[str, Any]] | None:
    """The group's last messages, oldest first; None when the group does not exist yet."""
    response = client.get(f"/v1/groups/{group_id}/messages",
                          params={"newest": True, "limit": HISTORY_MESSAGES}, timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()["messages"]


def _error_of(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.text)
    except ValueError:
        return response.text or f"HTTP {response.status_code}"


def _send_line(client: httpx.Client, group: str, text: str, sender: str, screen: Screen) -> int | None:
    """Post one typed line, retrying while the stack is unreachable or answers 5xx; its id, or
    None when it was not sent (said in one line). The external id makes a retry of a post that
    did arrive store nothing twice."""
    body = {"chat_id": group, "text": text, "sender": sender, "channel": "terminal",
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
        screen.note(f"not sent: {_error_of(response)}")
        return None
    if told:
        screen.note("sent")
    return int(response.json()["message_id"])


@cli.command()
def chat(
    group: Annotated[str, typer.Option(help="chat name; the group is terminal:<name>")] = "main",
    sender: Annotated[str, typer.Option(help="who is speaking")] = os.environ.get("USER", "you"),
) -> None:
    """Chat with claw in the terminal (the terminal channel): the group's last messages, then
    everything claw says to it as it comes. quit, exit or Ctrl-D leaves."""
    group_id = f"terminal:{group}"
    typer.echo(f"Chatting in {group_id} as {sender}. quit, exit or Ctrl-D to leave.")
    settings = client_settings()
    screen = Screen(f"{sender}> ")
    conversation = Conversation(screen)
    with api_client(settings) as client, api_client(settings, timeout=None) as stream_client:
        events = GroupEvents(stream_client, group_id, on_reply=conversation.on_reply,
                             on_typing=conversation.on_typing,
                             on_connection=conversation.on_connection, timeout=STREAM_TIMEOUT)
        events.start()
        try:
            events.settled.wait(CONNECT_WAIT_SECONDS)  # subscribed first: nothing falls between
            try:
                history = _recent(client, group_id)
            except httpx.HTTPError as exc:
                typer.secho(f"cannot reach the claw API ({type(exc).__name__}); is `claw up` running?",
                            fg="red", err=True)
                raise typer.Exit(2) from None
            conversation.begin(history or [])
            _talk(client, group, sender, screen, conversation, events)
        finally:
            events.stop()


def _talk(client: httpx.Client, group: str, sender: str, screen: Screen,
          conversation: Conversation, events: GroupEvents) -> None:
    while True:
        try:
            line = screen.read().strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo()
            break
        if line.lower() in LEAVE_WORDS:
            return
        if not line:
            continue
        try:
            message_id = _send_line(client, group, line, sender, screen)
        except KeyboardInterrupt:
            screen.note("not sent")
            continue
        if message_id is not None:
            conversation.sent(message_id)
            events.group_created()
    if not screen.interactive and not conversation.wait_answered(PIPED_REPLY_WAIT_SECONDS):
        screen.note(f"(no reply within {PIPED_REPLY_WAIT_SECONDS:.0f} s; it will be in the group's history)")

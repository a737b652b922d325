"""`claw chat` and `claw send`: the terminal channel."""

from __future__ import annotations

import os
import threading
from typing import Annotated

import httpx
import typer

from claw.cli.common import api_client, cli, client_settings


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


class TypingIndicator:
    """Prints "claw is typing…" once per turn while a reply is awaited, from the group's
    event stream (GET /v1/groups/{id}/events), which exists once the group does."""

    def __init__(self, client: httpx.Client, group_id: str) -> None:
        self.client, self.group_id = client, group_id
        self.waiting = threading.Event()
        self.shown = False
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._listen, name="typing", daemon=True)
            self.thread.start()

    def _listen(self) -> None:
        try:
            with self.client.stream("GET", f"/v1/groups/{self.group_id}/events") as stream:
                for line in stream.iter_lines():
                    if line == "event: typing" and self.waiting.is_set() and not self.shown:
                        self.shown = True
                        typer.secho("claw is typing…", dim=True, err=True)
        except httpx.HTTPError:
            pass  # a nicety: the chat works without it

    def expect_reply(self) -> None:
        self.shown = False
        self.waiting.set()

    def got_reply(self) -> None:
        self.waiting.clear()


@cli.command()
def chat(
    group: Annotated[str, typer.Option(help="chat name; the group is terminal:<name>")] = "main",
    sender: Annotated[str, typer.Option(help="who is speaking")] = os.environ.get("USER", "you"),
) -> None:
    """Chat with claw in the terminal (the terminal channel). Ctrl-D quits."""
    typer.echo(f"Chatting in terminal:{group} as {sender}. Ctrl-D to quit.")
    settings = client_settings()
    with api_client(settings) as client, api_client(settings, timeout=None) as events:
        typing = TypingIndicator(events, f"terminal:{group}")
        while True:
            try:
                line = input("> ").strip()
            except (EOFError, KeyboardInterrupt):
                typer.echo()
                return
            if not line:
                continue
            typing.expect_reply()
            reply = _post(client, group, line, sender, wait=120)
            typing.got_reply()
            typing.start()  # the group exists now
            typer.echo(reply if reply is not None else "(no reply within 120 s; it will arrive later)")

"""`claw chat` and `claw send`: the terminal channel."""

from __future__ import annotations

import os
from typing import Annotated

import httpx
import typer

from claw.cli.common import api_client, cli, client_settings


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


@cli.command()
def chat(
    group: Annotated[str, typer.Option(help="chat name; the group is terminal:<name>")] = "main",
    sender: Annotated[str, typer.Option(help="who is speaking")] = os.environ.get("USER", "you"),
) -> None:
    """Chat with claw in the terminal (the terminal channel). Ctrl-D quits."""
    typer.echo(f"Chatting in terminal:{group} as {sender}. Ctrl-D to quit.")
    with api_client(client_settings()) as client:
        while True:
            try:
                line = input("> ").strip()
            except (EOFError, KeyboardInterrupt):
                typer.echo()
                return
            if not line:
                continue
            reply = _post(client, group, line, sender, wait=120)
            typer.echo(reply if reply is not None else "(no reply within 120 s; it will arrive later)")

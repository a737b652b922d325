"""`claw send GROUP TEXT`: one message to a running stack, and its reply."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from claw.cli.common import (
    EXIT_ERROR,
    EXIT_USAGE,
    GROUP_HELP,
    api_client,
    checked,
    cli,
    client_settings,
    fail,
    group_exists,
    group_id,
)

#: the channels whose messages the API takes (MessageIn.channel); replies to them are read by
#: their client, so a message to a whatsapp: or telegram: group could never be answered here
SENDABLE_CHANNELS = ("terminal", "http", "web")


@cli.command()
def send(
    group: Annotated[str, typer.Argument(help=GROUP_HELP)],
    text: Annotated[str, typer.Argument(help="message text")],
    sender: Annotated[str, typer.Option(help="who is speaking")] = os.environ.get("USER", "you"),
    wait: Annotated[float, typer.Option(min=0, max=120, help="seconds to wait for the reply")] = 60,
) -> None:
    """Send one message to the running stack and print the reply (--wait 0: store it and return)."""
    if not text.strip():  # the API would refuse it too (422): say so before anything is sent
        raise fail("claw: the message text is empty; give something to say", EXIT_USAGE)
    target = group_id(group)
    channel, _, chat_id = target.partition(":")
    if channel not in SENDABLE_CHANNELS:
        raise fail(f"claw: claw send writes to {', '.join(SENDABLE_CHANNELS)} groups, not {target} "
                   f"(its messages come from {channel} itself)", EXIT_USAGE)
    with api_client(client_settings()) as client:
        if not group_exists(client, target):
            typer.secho(f"claw: {target} is a new group: this message creates it", fg="yellow", err=True)
        body = {"chat_id": chat_id, "text": text, "sender": sender, "channel": channel}
        reply = checked(client.post("/v1/messages", params={"wait": wait}, json=body)).get("reply")
    if reply is None and wait == 0:  # asked not to wait: the message is stored, nothing failed
        typer.echo(f"sent to {target} (not waiting for the reply; it will appear in the group's messages)", err=True)
        return
    if reply is None:
        raise fail(f"claw: no reply within {wait:g} s; it will appear in {target}'s messages", EXIT_ERROR)
    typer.echo(reply["text"])

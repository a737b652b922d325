"""`claw chat`: the terminal channel (and any http: or web: group) in a terminal.

`claw chat` shows the group's last messages, then everything claw delivers to the group as it
is delivered (replies, reminders, results of scheduled prompts, messages from code, notices),
from the group's event stream (claw/cli/chat_events.py), not only the answer to the line just
typed. A line typed is posted without waiting: its answer arrives like everything else. A send
that fails because the stack is restarting is retried for a while, said in one line
(claw/cli/chat_session.py).
"""

from __future__ import annotations

import os
from typing import Annotated

import httpx
import typer

from claw.cli.chat_events import GroupEvents
from claw.cli.chat_screen import Screen
from claw.cli.chat_session import Conversation, error_of, recent_messages, send_line
from claw.cli.common import (
    EXIT_ERROR,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    GROUP_HELP,
    api_client,
    cli,
    client_settings,
    fail,
)
from claw.cli.common import group_id as group_id_of
from claw.cli.send import SENDABLE_CHANNELS

#: how long the chat waits for the event stream before it shows the history anyway
CONNECT_WAIT_SECONDS = 5.0
#: with input piped in, how long the chat waits after the last line for its answer
PIPED_REPLY_WAIT_SECONDS = 120.0
#: the event stream's read timeout: well over the server's 15 s keep-alive
STREAM_TIMEOUT = httpx.Timeout(45.0, connect=5.0)
LEAVE_WORDS = {"quit", "exit", "/quit", "/exit"}


@cli.command()
def chat(
    group: Annotated[str, typer.Option(help=f"{GROUP_HELP}; a terminal, http or web group")] = "main",
    sender: Annotated[str, typer.Option(help="who is speaking")] = os.environ.get("USER", "you"),
) -> None:
    """Chat with claw in the terminal (the terminal channel): the group's last messages, then
    everything claw says to it as it comes. quit, exit or Ctrl-D leaves."""
    group_id = group_id_of(group)  # `--group terminal:main` once chatted in terminal:terminal:main
    channel, _, chat_name = group_id.partition(":")
    if channel not in SENDABLE_CHANNELS:
        raise fail(f"claw: claw chat talks in {', '.join(SENDABLE_CHANNELS)} groups, not {group_id} "
                   f"(its messages come from {channel} itself)", EXIT_USAGE)
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
                history = recent_messages(client, group_id)
            except httpx.HTTPStatusError as exc:
                typer.secho(f"the claw API refused: {error_of(exc.response)}", fg="red", err=True)
                raise typer.Exit(EXIT_ERROR) from None
            except httpx.HTTPError as exc:
                typer.secho(f"cannot reach the claw API ({type(exc).__name__}); is `claw up` running?",
                            fg="red", err=True)
                raise typer.Exit(EXIT_UNREACHABLE) from None
            conversation.begin(history or [])
            _talk(client, channel, chat_name, sender, screen, conversation, events)
        finally:
            events.stop()


def _talk(client: httpx.Client, channel: str, chat_name: str, sender: str, screen: Screen,
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
            message_id = send_line(client, chat_name, line, sender, screen, channel=channel)
        except KeyboardInterrupt:
            screen.note("not sent")
            continue
        if message_id is not None:
            conversation.sent(message_id)
            events.group_created()
    if not screen.interactive and not conversation.wait_answered(PIPED_REPLY_WAIT_SECONDS):
        screen.note(f"(no reply within {PIPED_REPLY_WAIT_SECONDS:.0f} s; it will be in the group's history)")

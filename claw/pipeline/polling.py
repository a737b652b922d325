"""One poll of one channel: fetch after the stored cursor, store, then advance the cursor.

Messages and the new cursor are written in one transaction, so a crash can only make the next
poll fetch the same messages again, which the (channel, chat_id, external_id) key absorbs.

A message that does not address claw in a group chat is stored but queues no turn; a chat
claw has never seen gets its pairing reply in the same transaction (claw.pipeline.pairing).

Items are judged one by one (claw/channels/items.py), and each is stored in a savepoint of its
own: an item the database still refuses is skipped with a note, and the good items of the page
and the cursor move on. A database that is down fails the whole poll instead (nothing moves).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import DataError

from claw.channels import PolledChannel
from claw.channels.items import ItemNote
from claw.db import PollCursor, read_session, write_session
from claw.pipeline.dispatch import enqueue_send, enqueue_turn
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.pairing import hold
from claw.redis_client import get_redis

log = logging.getLogger(__name__)

#: Redis hash "<channel>|<action>|<reason>" -> count, shown as claw_channel_items in /metrics
ITEM_NOTES_KEY = "claw:channel-items"
#: what storing raises for a value it cannot hold (NUL, bad encoding, too long, not text)
UNSTORABLE = (DataError, ValueError, TypeError)
#: how loudly each kind of note is logged: the bot's own messages come back with every reply
NOTE_LEVELS = {"skipped": logging.WARNING, "ignored": logging.DEBUG}


def poll_channel(channel: PolledChannel) -> int:
    """Returns how many new messages were stored."""
    with read_session() as session:
        cursor = session.scalar(select(PollCursor.cursor).where(PollCursor.channel == channel.name))
    batch = channel.fetch(cursor or "")
    notes = list(batch.notes)
    to_queue: dict[str, bool] = {}
    notices: list[int] = []  #: pairing replies to strangers (claw.pipeline.pairing)
    created = 0
    with write_session() as session:
        for incoming in batch.messages:
            try:
                with session.begin_nested():
                    stored = store_message(session, incoming)
                    notice = hold(session, stored, incoming)
            except UNSTORABLE as exc:
                notes.append(_unstorable(incoming, exc))
                continue
            created += stored.created
            if notice is not None:
                notices.append(notice)
            if stored.starts_turn:
                to_queue[stored.group_id] = stored.priority
        row = session.get(PollCursor, channel.name)
        if row is None:
            session.add(PollCursor(channel=channel.name, cursor=batch.cursor))
        else:
            row.cursor = batch.cursor
    record_notes(notes)
    for group_id, priority in to_queue.items():
        enqueue_turn(group_id, priority=priority)
    for outbox_id in notices:
        enqueue_send(outbox_id)
    return created


def _unstorable(incoming: IncomingMessage, exc: Exception) -> ItemNote:
    ref = f"id={ascii(incoming.external_id)[:60]} error={type(exc).__name__}"
    return ItemNote(incoming.channel, "skipped", "unstorable", ref)


def record_notes(notes: list[ItemNote]) -> None:
    """A log line for every skipped or repaired item, and its count for /metrics."""
    if not notes:
        return
    for note in notes:
        level = NOTE_LEVELS.get(note.action, logging.INFO)
        log.log(level, "channel_item_%s channel=%s reason=%s item=%s",
                note.action, note.channel, note.reason, note.ref)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for note in notes:
            pipe.hincrby(ITEM_NOTES_KEY, f"{note.channel}|{note.action}|{note.reason}", 1)
        pipe.execute()
    except Exception as exc:  # the log lines stand; a count missed is no message lost
        log.warning("channel_item_count_failed error=%s", type(exc).__name__)

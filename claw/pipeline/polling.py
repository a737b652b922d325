"""One poll of one channel: fetch after the stored cursor, store, then advance the cursor.

Messages and the new cursor are written in one transaction, so a crash can only make the next
poll fetch the same messages again, which the (channel, chat_id, external_id) key absorbs.
"""

from __future__ import annotations

from sqlalchemy import select

from claw.channels import PolledChannel
from claw.db import PollCursor, read_session, write_session
from claw.pipeline.dispatch import enqueue_turn
from claw.pipeline.inbox import store_message


def poll_channel(channel: PolledChannel) -> int:
    """Returns how many new messages were stored."""
    with read_session() as session:
        cursor = session.scalar(select(PollCursor.cursor).where(PollCursor.channel == channel.name))
    batch = channel.fetch(cursor or "")
    to_queue: dict[str, bool] = {}
    created = 0
    with write_session() as session:
        for incoming in batch.messages:
            stored = store_message(session, incoming)
            if stored.created:
                created += 1
                to_queue[stored.group_id] = stored.priority
        row = session.get(PollCursor, channel.name)
        if row is None:
            session.add(PollCursor(channel=channel.name, cursor=batch.cursor))
        else:
            row.cursor = batch.cursor
    for group_id, priority in to_queue.items():
        enqueue_turn(group_id, priority=priority)
    return created

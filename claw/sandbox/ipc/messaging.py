"""The send_message action: sandboxed code posts a message to its group (or, main only, another).

It is written like a turn's reply (claw/tasks/turn.py): an assistant message in the target
group's history and an outbox row in one transaction, then delivered inline for channels whose
clients pull, or queued on claw.io for the others. If the enqueue fails the row stays pending
and the sweeper sends it. In a turn the journal entry is written in the same transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from claw.db import Group, write_session
from claw.pipeline.delivery import send_reply
from claw.pipeline.outbox import write_reply
from claw.sandbox.ipc.actions import ActionContext, ActionError, register
from claw.sandbox.ipc.policy import check_message_target
from claw.sandbox.logsafe import escaped

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4000


class SendMessageArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    to: str | None = Field(default=None, min_length=3, max_length=255)  #: a group id; default: own


def send_message(ctx: ActionContext, args: SendMessageArgs) -> dict[str, Any]:
    target = args.to or ctx.identity.group_id
    check_message_target(ctx.identity, target)
    with write_session() as session:
        group = session.get(Group, target)
        if group is None:
            raise ActionError(f"there is no group {target!r}")
        outbox = write_reply(session, group_id=group.id, channel=group.channel,
                             chat_id=group.chat_id, text=args.text)
        outbox_id, channel = outbox.id, group.channel
        result = {"group_id": target, "outbox_id": outbox_id}
        if ctx.journal is not None:  # with the outbox row, so a redone run never sends it twice
            ctx.journal.record(session, result)
    send_reply(target, outbox_id, channel)
    log.info("ipc_message_sent group=%s target=%s outbox=%d", ctx.identity.group_id, escaped(target), outbox_id)
    return result


register("send_message", SendMessageArgs, send_message, priority=10)

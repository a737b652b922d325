"""Whether a message addresses claw: the rule that keeps claw quiet in busy group chats.

In a group chat that answers on "mention" (the default for Telegram and WhatsApp groups), a
message starts a turn only when it addresses claw: it contains the trigger word
(``CLAW_TRIGGER``, ``@claw`` by default, any case, as a whole word), @mentions the bot
(Telegram message entities), or replies to one of claw's own messages. The channel adapter
finds the last two (``IncomingMessage.mentions_bot``); the trigger word is checked here.

Every other message is stored all the same (``Message.addressed`` false): it never starts a
turn, but the next turn sees it in its history, so claw knows what was said since it last spoke.
Private chats and the HTTP, terminal and web channels answer every message ("always").
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

from claw.db.models import Channel


class Respond(StrEnum):
    ALWAYS = "always"  #: every message starts a turn
    MENTION = "mention"  #: only messages that address claw do


#: channels where a chat can be a group of people who mostly talk to each other
GROUP_CHANNELS = frozenset({Channel.TELEGRAM, Channel.WHATSAPP})


def is_private(channel: str, chat_id: str, private: bool | None = None) -> bool:
    """Whether the chat is one person talking to claw. ``private`` is the channel's own word
    (Telegram's ``chat.type``); without it, the chat id tells: Telegram groups have negative
    ids, WhatsApp groups end in ``@g.us``."""
    if channel not in GROUP_CHANNELS:
        return True
    if private is not None:
        return private
    if channel == Channel.TELEGRAM:
        return not chat_id.startswith("-")
    return not chat_id.endswith("@g.us")


def default_respond(channel: str, chat_id: str, private: bool | None, group_default: str) -> Respond:
    """How a new chat is answered: group chats as CLAW_GROUP_RESPOND says, the rest always."""
    if is_private(channel, chat_id, private):
        return Respond.ALWAYS
    return Respond(group_default)


@lru_cache(maxsize=8)
def trigger_pattern(trigger: str) -> re.Pattern[str]:
    """The trigger as a whole word: ``@claw`` matches "hey @Claw," but not "@clawbot"."""
    return re.compile(rf"(?<![\w@]){re.escape(trigger.strip())}(?!\w)", re.IGNORECASE)


def mentions_trigger(text: str, trigger: str) -> bool:
    return bool(trigger.strip()) and trigger_pattern(trigger).search(text) is not None


def is_addressed(text: str, *, respond: str, mentions_bot: bool, trigger: str) -> bool:
    """Whether a message starts a turn in a chat that answers as ``respond`` says."""
    if respond != Respond.MENTION:
        return True
    return mentions_bot or mentions_trigger(text, trigger)

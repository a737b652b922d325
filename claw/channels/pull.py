"""Channels whose clients pull their replies: HTTP API, terminal (`claw chat`), web page and
OpenAI-compatible clients (`api:<user>`).

Delivering is only announcing: the reply is already in the database, and the announcement on
Redis wakes any ``POST /v1/messages?wait=`` that is waiting for it.
"""

from __future__ import annotations


class PullChannel:
    def __init__(self, name: str) -> None:
        self.name = name

    def deliver(self, chat_id: str, text: str) -> None:
        return None

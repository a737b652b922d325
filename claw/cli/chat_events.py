"""`claw chat`'s end of a group's event stream (GET /v1/groups/{id}/events), on a thread.

It stays connected for as long as the chat is open: when the stream ends (the API restarts,
the stream's time is up, the network hiccups) it reconnects with a backoff (RETRY_FIRST
doubling to RETRY_MAX seconds) and sends the id of the last event it saw as ``Last-Event-ID``,
so a delivery made while it was away is shown, not lost. A group that does not exist yet (a
new chat) has no stream: the listener waits until the first message has created it and then
reads the group's log from its start. httpx-sse parses the stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import SSEError, connect_sse

from claw.cli.common import group_path

#: first wait before reconnecting, doubling with each failure up to RETRY_MAX
RETRY_FIRST = 0.5
RETRY_MAX = 5.0
#: while the group does not exist, look again this often even without being told
NEW_GROUP_RECHECK = 3.0
#: "0": from the start of the group's delivery log
FROM_START = "0"


class GroupEvents:
    """Calls ``on_reply(data)`` for each delivery, ``on_typing()`` for each typing event and
    ``on_connection(connected)`` when the connection is made, lost or made again."""

    def __init__(
        self,
        client: httpx.Client,
        group_id: str,
        *,
        on_reply: Callable[[dict[str, Any]], None],
        on_typing: Callable[[], None],
        on_connection: Callable[[bool], None],
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self.client, self.group_id, self.timeout = client, group_id, timeout
        self.on_reply, self.on_typing, self.on_connection = on_reply, on_typing, on_connection
        self.cursor: str | None = None
        self.connected = threading.Event()
        #: set once the first attempt connected, failed, or found that the group does not exist
        self.settled = threading.Event()
        self._group_created = threading.Event()
        self._was_missing = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claw-chat-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._group_created.set()

    def group_created(self) -> None:
        """The first message went through: the group, and so its stream, exist now."""
        self._group_created.set()

    def _run(self) -> None:
        delay = RETRY_FIRST
        while not self._stopped.is_set():
            try:
                if self._listen():
                    delay = RETRY_FIRST
                    continue  # the stream ended cleanly (time up, server stopping): go again
            except (httpx.HTTPError, SSEError, ValueError):
                pass
            except Exception:
                if self._stopped.is_set():
                    return  # the client was closed under us as the chat ended
                raise
            self.settled.set()  # the chat need not wait for a stream that is not there
            if self.connected.is_set():
                self.connected.clear()
                self.on_connection(False)
            self._stopped.wait(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _listen(self) -> bool:
        """One connection; True to connect again at once (it ended cleanly, or the group was
        missing and may exist now), False after a failure."""
        cursor = self.cursor or (FROM_START if self._was_missing else None)
        headers = {"Last-Event-ID": cursor} if cursor else {}
        path = f"{group_path(self.group_id)}/events"  # escaped: a chat id may hold '/'
        with connect_sse(self.client, "GET", path, headers=headers, timeout=self.timeout) as source:
            if source.response.status_code == 404:
                # a new chat: created after we looked, so everything its log holds is new to us
                self._was_missing = True
                self.settled.set()
                self._group_created.wait(NEW_GROUP_RECHECK)
                self._group_created.clear()
                return True
            source.response.raise_for_status()
            for event in source.iter_sse():
                if self._stopped.is_set():
                    return True
                if event.id:
                    self.cursor = event.id
                if not self.connected.is_set():
                    self.connected.set()
                    self.settled.set()
                    self.on_connection(True)
                if event.event == "reply":
                    self.on_reply(json.loads(event.data))
                elif event.event == "typing":
                    self.on_typing()
        return self.connected.is_set()

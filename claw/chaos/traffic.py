"""The chat traffic: every planned message, at its time, through the API or the bridge.

One thread per group posts that group's messages in order, so the harness itself never
reorders a group. An API post that fails (the API may hiccup while Redis is down) is retried
with the same ``external_id``, as a careful client does, which claw stores once; a message the
API would not take within ``ACCEPT_SECONDS`` counts as refused, and so as lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

import httpx

from claw.chaos.fakes.bridge import ChaosBridge
from claw.chaos.plan import ChaosPlan, PlannedMessage
from claw.chaos.stack import ChaosStack

log = logging.getLogger(__name__)

ACCEPT_SECONDS = 60.0


class Traffic:
    def __init__(self, plan: ChaosPlan, stack: ChaosStack, bridge: ChaosBridge) -> None:
        self.plan = plan
        self.stack = stack
        self.bridge = bridge
        self.refused: list[str] = []  #: ids the API never accepted
        self.api_retries = 0
        #: bridge message id -> chaos message id, for messages written through the bridge
        self.bridge_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def run(self, started: float, stop: threading.Event) -> None:
        by_group: dict[int, list[PlannedMessage]] = defaultdict(list)
        for message in self.plan.messages:
            by_group[message.group.index].append(message)
        threads = [threading.Thread(target=self._group, args=(messages, started, stop),
                                    name=f"chaos-traffic-{index}", daemon=True)
                   for index, messages in by_group.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _group(self, messages: list[PlannedMessage], started: float, stop: threading.Event) -> None:
        for message in messages:
            if stop.wait(max(0.0, started + message.at - time.monotonic())):
                return
            if message.group.channel == "whatsapp":
                bridge_id = self.bridge.add(message.group.chat_id, message.sender, message.text)
                with self._lock:
                    self.bridge_ids[bridge_id] = message.id
            else:
                self._post(message, stop)

    def _post(self, message: PlannedMessage, stop: threading.Event) -> None:
        body = {"chat_id": message.group.chat_id, "text": message.text,
                "sender": message.sender, "external_id": message.id}
        deadline = time.monotonic() + ACCEPT_SECONDS
        while True:
            try:
                response = self.stack.http.post("/v1/messages", json=body)
                if response.status_code == 202:
                    return
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            if time.monotonic() > deadline or stop.is_set():
                log.warning("chaos_post_refused id=%s error=%s", message.id, error)
                with self._lock:
                    self.refused.append(message.id)
                return
            with self._lock:
                self.api_retries += 1
            time.sleep(0.5)

"""Capturing a sandbox's output without letting it flood memory or the model's context.

The first three quarters of the budget keep the beginning of the output and the last quarter
its end (where errors and results usually are); everything in between is counted, dropped, and
replaced by a marker that says how much was cut.
"""

from __future__ import annotations

from collections import deque


class OutputCapture:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head_limit = limit * 3 // 4
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail.append(data)
        self.tail_size += len(data)
        while self.tail and self.tail_size - len(self.tail[0]) >= self.tail_limit:
            self.tail_size -= len(self.tail.popleft())

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def render(self) -> str:
        tail = b"".join(self.tail)
        if not self.truncated:
            return (bytes(self.head) + tail).decode("utf-8", errors="replace")
        tail = tail[-self.tail_limit:] if self.tail_limit else b""
        cut = self.total - len(self.head) - len(tail)
        marker = f"\n[… output truncated: {cut:,} of {self.total:,} bytes cut …]\n"
        return (
            bytes(self.head).decode("utf-8", errors="replace")
            + marker
            + tail.decode("utf-8", errors="replace")
        )

"""A fake Messages API with prompt caching by the documented rules, for `claw bench cache` and tests.

The rules it keeps (Anthropic's prompt caching documentation):

- The prompt is read in the order tools → system → messages. A block with ``cache_control``
  is a breakpoint: the prefix up to and including it may be cached. At most four per request;
  more is an HTTP 400.
- A prefix shorter than the model's minimum (1024 tokens; 2048 for Haiku) is not cached: no
  error, just no entry.
- A read needs exactly the same prefix, block for block, up to a point where an entry was
  written before; from each breakpoint the API looks back up to 20 blocks for such an entry.
- Entries live five minutes, and every use refreshes them: a read refreshes the entry it read
  and the entries at the request's breakpoints inside that prefix (their content was used).
- ``usage``: ``cache_read_input_tokens`` came from an entry, ``cache_creation_input_tokens``
  were written (from there to the last breakpoint that could be cached), ``input_tokens`` are
  the rest, after it.

Tokens are estimated as one per four characters of a block's canonical JSON (``cache_control``
left out, as it is no part of the prompt), at least one per block: rough, but the same for
every request, so read + written + input is always the request's whole prompt. The answers
themselves come from ``answer``, a function of the request body.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from claw.chaos.fakes.anthropic import AnthropicServer, FakeResponse, reply_error, reply_text

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
TTL_SECONDS = 300.0
CHARS_PER_TOKEN = 4

Answer = Callable[[dict[str, Any]], FakeResponse]


def minimum_cacheable(model: str) -> int:
    """The shortest prefix (tokens) the API caches for ``model``."""
    return 2048 if "haiku" in model else 1024


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """What one request cost, in the API's usage fields."""

    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    breakpoints: int

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


def prompt_blocks(body: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The request's prompt as canonical blocks in cache order, and which are breakpoints."""
    keyed: list[tuple[dict[str, Any], bool]] = []
    for tool in body.get("tools") or []:
        keyed.append(({"tool": tool}, "cache_control" in tool))
    system = body.get("system")
    if isinstance(system, str) and system:
        keyed.append(({"system": {"type": "text", "text": system}}, False))
    for block in system if isinstance(system, list) else []:
        keyed.append(({"system": block}, "cache_control" in block))
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for index, block in enumerate(blocks):
            # where a message starts is part of the prompt, so the key says it
            where = {"role": message.get("role"), "opens": index == 0}
            keyed.append(({"message": where, "block": block}, "cache_control" in block))
    canonical = [json.dumps(_without_cache_control(k), sort_keys=True, ensure_ascii=False)
                 for k, _ in keyed]
    return canonical, [i for i, (_, marked) in enumerate(keyed) if marked]


def _without_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_without_cache_control(v) for v in value]
    return value


def block_tokens(canonical: str) -> int:
    return max(1, math.ceil(len(canonical) / CHARS_PER_TOKEN))


class PromptCache:
    """The server side of prompt caching: entries by prefix hash, per model, with a TTL."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, float] = {}  #: prefix hash -> expiry
        self._clock = clock

    def process(self, body: dict[str, Any]) -> CacheUsage:
        """Read and write the request's entries; raises ValueError for too many breakpoints."""
        blocks, marks = prompt_blocks(body)
        if len(marks) > MAX_BREAKPOINTS:
            raise ValueError(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be "
                             f"provided. Found {len(marks)}.")
        model = str(body.get("model", ""))
        hashes, totals = [], []
        digest, total = hashlib.sha256(model.encode()), 0
        for block in blocks:
            digest.update(hashlib.sha256(block.encode()).digest())
            hashes.append(digest.hexdigest())
            total += block_tokens(block)
            totals.append(total)
        now = self._clock()
        read_at = -1  # last block of the longest prefix read from an entry
        for mark in marks:
            for at in range(mark, max(read_at, mark - LOOKBACK_BLOCKS - 1), -1):
                if self._entries.get(hashes[at], 0.0) > now:
                    read_at = at
                    break
        # Reading refreshes what was used: the entry read, and the request's own breakpoints
        # inside it that have entries (its tools, its system prompt).
        for at in [read_at, *(mark for mark in marks if mark < read_at)]:
            if at >= 0 and self._entries.get(hashes[at], 0.0) > now:
                self._entries[hashes[at]] = now + TTL_SECONDS
        floor = minimum_cacheable(model)
        written_to = read_at
        for mark in marks:
            if mark > read_at and totals[mark] >= floor:
                self._entries[hashes[mark]] = now + TTL_SECONDS
                written_to = mark
        read = totals[read_at] if read_at >= 0 else 0
        written = (totals[written_to] if written_to >= 0 else 0) - read
        return CacheUsage(total - read - written, read, written, len(marks))


class PromptCacheServer(AnthropicServer):
    """POST /v1/messages answered by ``answer``, with usage from the prompt cache."""

    def __init__(self, answer: Answer | None = None, *, keep_requests: bool = True) -> None:
        self.answer = answer or (lambda body: reply_text("ok"))
        self.cache = PromptCache()
        self.usages: list[CacheUsage] = []
        self.keep_requests = keep_requests
        super().__init__()

    def respond(self, body: dict[str, Any], client_port: int) -> FakeResponse:
        with self.lock:
            try:
                usage = self.cache.process(body)
            except ValueError as exc:
                return reply_error(400, "invalid_request_error", str(exc))
            self.usages.append(usage)
        response = self.answer(body)
        if response.status != 200:
            return response
        out = sum(block_tokens(json.dumps(b, sort_keys=True)) for b in response.body["content"])
        counts = {"input_tokens": usage.input_tokens, "output_tokens": out,
                  "cache_read_input_tokens": usage.cache_read_input_tokens,
                  "cache_creation_input_tokens": usage.cache_creation_input_tokens}
        return replace(response, body={**response.body, "usage": counts})

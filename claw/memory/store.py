"""A group's long-term memory: save, search, list and curate, over its files and its index.

A group reads its own memory and the global one, and writes its own; only a main group may
write the global memory. Nothing here takes a group id from the model: the caller passes the
group of the turn.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from claw.memory.files import (
    CATEGORIES,
    MEMORY_FILE,
    append_entry,
    append_line,
    global_memory_root,
    group_memory_root,
    note_path,
    read_memory_md,
    write_memory_md,
)
from claw.memory.index import Hit, IndexedFile, MemoryIndex, Source
from claw.memory.safe_files import UnsafeFile
from claw.workspace import group_dir_name

log = logging.getLogger(__name__)

UTC = timezone.utc
MAX_ENTRY_CHARS = 4000
MAX_MEMORY_MD_CHARS = 20_000
DAILY_TEXT_CHARS = 100  #: how much of a message and of a reply one daily line keeps
SCOPES = ("group", "global")


class MemoryRefused(Exception):
    """A memory request that cannot be done as asked; the message says why."""


def index_path(index_dir: Path, group_id: str) -> Path:
    return index_dir / f"{group_dir_name(group_id)}.sqlite3"


#: indexes this process keeps open, least recently used first. Opening one per search cost
#: ~6 ms: closing the last connection checkpoints and deletes the WAL, which the next open
#: builds again. Per process: a forked child opens its own (sqlite connections never cross a fork).
_OPEN: OrderedDict[Path, tuple[MemoryIndex, int]] = OrderedDict()
_OPEN_PID = os.getpid()
_OPEN_LOCK = threading.RLock()
OPEN_INDEXES = 16


def _open_index(path: Path) -> MemoryIndex:
    """The open index of ``path``, reopened when the file was replaced or is of another schema."""
    global _OPEN_PID
    if _OPEN_PID != os.getpid():
        _OPEN.clear()  # the parent's connections: left alone, never used here
        _OPEN_PID = os.getpid()
    cached = _OPEN.pop(path, None)
    if cached is not None:
        index, inode = cached
        try:
            same = os.stat(path).st_ino == inode and index.current()
        except (OSError, sqlite3.DatabaseError):
            same = False
        if not same:
            index.close()
            cached = None
    if cached is None:
        index = MemoryIndex(path)
        cached = (index, os.stat(path).st_ino)
    _OPEN[path] = cached
    while len(_OPEN) > OPEN_INDEXES:
        _, (oldest, _) = _OPEN.popitem(last=False)
        oldest.close()
    return cached[0]


def _forget(path: Path) -> None:
    cached = _OPEN.pop(path, None)
    if cached is not None:
        try:
            cached[0].close()
        except sqlite3.Error:
            pass


class GroupMemory:
    def __init__(self, *, workspace: Path, index_dir: Path, group_id: str, is_main: bool = False,
                 tz: tzinfo = UTC) -> None:
        self.group_id = group_id
        self.workspace = workspace
        self.is_main = is_main
        self.tz = tz
        self.root = group_memory_root(workspace, group_id)
        self.global_root = global_memory_root(workspace)
        self.index_file = index_path(index_dir, group_id)

    def _root(self, scope: str, *, writing: bool) -> Path:
        if scope not in SCOPES:
            raise MemoryRefused(f"unknown scope {scope!r}; use 'group' or 'global'")
        if scope == "global" and writing and not self.is_main:
            raise MemoryRefused("only the main group can write global memory; save it for this group instead")
        return self.global_root if scope == "global" else self.root

    def save(self, category: str, topic: str, content: str, *, scope: str = "group",
             now: datetime, marker: str | None = None) -> str:
        """Append an entry; returns where it went ("topics/notes.md" or "global/topics/….md").

        ``marker`` names the tool call or host request that saves it: saving again with the
        same marker (a redone turn) appends nothing.
        """
        root = self._root(scope, writing=True)
        content = content.strip()
        if not content:
            raise MemoryRefused("there is nothing to remember: the content is empty")
        if len(content) > MAX_ENTRY_CHARS:
            raise MemoryRefused(f"that is {len(content)} characters; one entry holds at most {MAX_ENTRY_CHARS}")
        if category not in CATEGORIES:
            raise MemoryRefused(f"unknown category {category!r}; use one of: {', '.join(CATEGORIES)}")
        local = now.astimezone(self.tz)
        path = note_path(root, category, topic, local.date())
        title = local.date().isoformat() if category == "daily" else (topic.strip() or "notes")
        try:
            append_entry(self.workspace, path, title, content, at=local, marker=marker)
        except UnsafeFile as exc:
            raise MemoryRefused(f"cannot write that memory file ({exc}); ask a person to look at it") from None
        relative = path.relative_to(root).as_posix()
        return f"global/{relative}" if scope == "global" else relative

    @contextmanager
    def _index(self) -> Iterator[MemoryIndex]:
        """The group's index, brought up to date with the files; rebuilt if it is corrupt."""
        sources = [Source("group", self.root, self.workspace), Source("global", self.global_root, self.workspace)]
        with _OPEN_LOCK:
            try:
                index = _open_index(self.index_file)
            except sqlite3.DatabaseError:
                log.warning("memory_index_corrupt index=%s", self.index_file.name)
                self.index_file.unlink(missing_ok=True)
                index = _open_index(self.index_file)
            try:
                try:
                    index.sync(sources)
                except sqlite3.DatabaseError:
                    log.warning("memory_index_corrupt index=%s", self.index_file.name)
                    index.rebuild()
                    index.sync(sources)
                yield index
            except BaseException:
                _forget(self.index_file)
                raise

    def search(self, query: str, *, limit: int = 8, now: datetime) -> list[Hit]:
        with self._index() as index:
            return index.search(query, limit=limit, now=now)

    def files(self, category: str | None = None) -> list[IndexedFile]:
        if category is not None and category not in CATEGORIES:
            raise MemoryRefused(f"unknown category {category!r}; use one of: {', '.join(CATEGORIES)}")
        with self._index() as index:
            return index.files(category)

    def curate(self, content: str, *, scope: str = "group", now: datetime) -> Path:
        """Replace MEMORY.md; the previous one is kept in .history/."""
        root = self._root(scope, writing=True)
        if len(content) > MAX_MEMORY_MD_CHARS:
            raise MemoryRefused(f"MEMORY.md would be {len(content)} characters; the limit is {MAX_MEMORY_MD_CHARS}")
        try:
            return write_memory_md(self.workspace, root, content.strip() + "\n", now=now)
        except UnsafeFile as exc:
            raise MemoryRefused(f"cannot write MEMORY.md ({exc}); ask a person to look at it") from None

    def shown_date(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).date().isoformat()


# ---- for the turn -------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def memory_prompt(workspace: Path, group_id: str, *, max_chars: int = 8000) -> str:
    """The curated memory to append to the system prompt ("" when there is none).

    The global MEMORY.md and the group's own, each clipped to its share of ``max_chars``.
    """
    shared = read_memory_md(workspace, global_memory_root(workspace)).strip()
    own = read_memory_md(workspace, group_memory_root(workspace, group_id)).strip()
    if not shared and not own:
        return ""
    share = max_chars // 2 if shared and own else max_chars
    parts = ["\n\n# Long-term memory\n"
             f"What you keep in {MEMORY_FILE}; search_memory finds older notes.\n"]
    if shared:
        parts.append(f"\n## Shared by every group\n{_clip(shared, share)}\n")
    if own:
        parts.append(f"\n## This group\n{_clip(own, share)}\n")
    return "".join(parts)


class SaidLine(Protocol):
    sender: str
    text: str


def daily_line(messages: Sequence[SaidLine], reply: str, *, at: datetime, tools: Sequence[str] = ()) -> str:
    """'- 14:05 alice, bob: "what was asked" → "what the assistant said" [tools]'."""
    senders = ", ".join(dict.fromkeys(m.sender for m in messages)) or "someone"
    asked = " / ".join(" ".join(m.text.split()) for m in messages)
    line = (f"- {at.strftime('%H:%M')} {senders}: \"{_clip(asked, DAILY_TEXT_CHARS)}\""
            f" → \"{_clip(' '.join(reply.split()), DAILY_TEXT_CHARS)}\"")
    return line + (f" [{', '.join(dict.fromkeys(tools))}]" if tools else "")


def record_turn(workspace: Path, group_id: str, messages: Sequence[SaidLine], reply: str, *,
                tz: str = "UTC", at: datetime | None = None, tools: Sequence[str] = ()) -> None:
    """Append one line about a turn to the group's daily file. Never raises: the turn is done."""
    try:
        local = (at or datetime.now(UTC)).astimezone(ZoneInfo(tz))
        path = note_path(group_memory_root(workspace, group_id), "daily", "", local.date())
        append_line(workspace, path, local.date().isoformat(), daily_line(messages, reply, at=local, tools=tools))
    except Exception as exc:
        log.warning("memory_daily_failed group=%s error=%s", group_id, type(exc).__name__)

"""Memory files, the truth: where they live, how entries are appended, how they are read back.

    workspace/groups/<group>/memory/            one group's memory
        MEMORY.md                               curated; loaded into the system prompt
        .history/MEMORY.<stamp>.md              every earlier MEMORY.md
        topics/<slug>.md  people/<slug>.md      append-only entries under "## <time>" headings
                                                (a turn's entry ends its heading with an HTML
                                                comment naming the tool call, "<!-- claw:… -->")
        daily/<YYYY-MM-DD>.md                   one "- HH:MM …" line per turn, and saved entries
    workspace/global/memory/                    the same, readable by every group

Files may be edited by hand: anything that is not under a dated heading still counts, as an
entry dated by the file's mtime (or, in a daily file, by its date).
"""

from __future__ import annotations

import logging
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from claw.memory.safe_files import UnsafeFile, links_free, open_append, read_regular, replace_regular
from claw.workspace import group_dir

log = logging.getLogger(__name__)

UTC = timezone.utc
CATEGORIES = ("topics", "people", "daily")
MEMORY_FILE = "MEMORY.md"
HISTORY_DIR = ".history"
MAX_SLUG = 60

HEADING = re.compile(
    r"^## (?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}(?::\d{2})?)\s*(?P<tz>Z|UTC|[+-]\d{2}:?\d{2})?"
    r"\s*(?:<!--.*?-->\s*)?$"
)
DAILY_LINE = re.compile(r"^- (?P<hh>\d{2}):(?P<mm>\d{2})\b")


def group_memory_root(workspace: Path, group_id: str) -> Path:
    return group_dir(workspace, group_id) / "memory"


def global_memory_root(workspace: Path) -> Path:
    # Group directories are escaped "<channel>%3A<chat>" names under groups/, so no group
    # can ever be "global" or reach it.
    return workspace / "global" / "memory"


def slugify(topic: str) -> str:
    """A file name for a topic: lower-case words joined by '-', never '.' or '..' or empty."""
    text = unicodedata.normalize("NFKC", topic).lower()
    slug = re.sub(r"[\W_]+", "-", text).strip("-")[:MAX_SLUG].strip("-")
    return slug or "notes"


def note_path(root: Path, category: str, topic: str, today: date) -> Path:
    if category not in CATEGORIES:
        raise ValueError(f"unknown memory category {category!r}; use one of: {', '.join(CATEGORIES)}")
    name = today.isoformat() if category == "daily" else slugify(topic)
    return root / category / f"{name}.md"


def _append(base: Path, path: Path, title: str, text: str, *, unless: str | None = None) -> bool:
    """Append under an exclusive lock, unless the file already holds ``unless``; a new file
    starts with its "# title" line. Returns whether it appended."""
    with open_append(base, path) as handle:
        size = handle.seek(0, os.SEEK_END)
        if unless is not None and size and unless in (read_regular(base, path) or ""):
            return False
        if size == 0:
            text = f"# {title}\n\n{text}"
        handle.write(text.encode("utf-8"))
    note_changed(path.parent)
    return True


def note_changed(directory: Path) -> None:
    """Tell the search index that a file in ``directory`` changed: its mtime is set to now,
    strictly later than before (claw.memory.index checks directories, not every file)."""
    try:
        before = os.stat(directory, follow_symlinks=False).st_mtime_ns
        moment = max(time.time_ns(), before + 1)
        os.utime(directory, ns=(moment, moment), follow_symlinks=False)
    except OSError as exc:  # the next full rescan (RESCAN_SECONDS) still finds the change
        log.warning("memory_change_note_failed error=%s", type(exc).__name__)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M ") + at.strftime("%z")[:3] + ":" + at.strftime("%z")[3:]


def step_comment(marker: str) -> str:
    return f"<!-- claw:{marker} -->"


def append_entry(base: Path, path: Path, title: str, content: str, *, at: datetime,
                 marker: str | None = None) -> bool:
    """Add one timestamped entry; earlier entries are never touched. ``base`` is the workspace.

    With a ``marker`` (the turn's tool call, claw.pipeline.journal) the entry is added only if
    the file holds no entry with that marker yet, so a redone tool call appends nothing.
    """
    heading = f"## {stamp(at)}" + (f" {step_comment(marker)}" if marker else "")
    return _append(base, path, title, f"{heading}\n\n{content.strip()}\n\n",
                   unless=step_comment(marker) if marker else None)


def append_line(base: Path, path: Path, title: str, line: str) -> None:
    _append(base, path, title, line.rstrip("\n") + "\n")


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    written_at: datetime
    text: str


def _heading_time(match: re.Match[str]) -> datetime:
    moment = datetime.fromisoformat(f"{match['date']}T{match['time']}")
    offset = match["tz"]
    if not offset or offset in ("Z", "UTC"):
        return moment.replace(tzinfo=UTC)
    return datetime.fromisoformat(f"{moment.isoformat()}{offset[:3]}:{offset[-2:]}")


def parse_entries(text: str, *, fallback: datetime, day: date | None = None) -> tuple[str | None, list[ParsedEntry]]:
    """The file's title and its entries.

    ``fallback`` dates text that is under no dated heading (hand-written); ``day`` is the date
    of a daily file, whose "- HH:MM" lines are one entry each.
    """
    title: str | None = None
    entries: list[ParsedEntry] = []
    when = fallback
    lines: list[str] = []

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            entries.append(ParsedEntry(when, body))
        lines.clear()

    for line in text.splitlines():
        if title is None and not entries and not lines and line.startswith("# "):
            title = line[2:].strip()
            continue
        if match := HEADING.match(line):
            flush()
            try:
                when = _heading_time(match)
            except ValueError:
                when = fallback
            continue
        if line.startswith("## "):  # a hand-written section: an entry of its own
            flush()
            when = fallback
            lines.append(line[3:])
            continue
        if day is not None and (match := DAILY_LINE.match(line)):
            flush()
            when = datetime(day.year, day.month, day.day, int(match["hh"]) % 24, int(match["mm"]) % 60,
                            tzinfo=UTC)
        lines.append(line)
    flush()
    return title, entries


#: the most of a MEMORY.md that is read: the prompt takes a few thousand characters of it
MAX_MEMORY_MD_BYTES = 256 * 1024


def read_memory_md(base: Path, root: Path) -> str:
    """MEMORY.md's text ("" when missing or not a regular file; bad bytes replaced, capped)."""
    return read_regular(base, root / MEMORY_FILE, MAX_MEMORY_MD_BYTES) or ""


def write_memory_md(base: Path, root: Path, text: str, *, now: datetime) -> Path:
    """Atomically replace MEMORY.md, keeping the previous version in .history/ (a rewrite to
    the same text does nothing, so a redone curate_memory keeps one version, not two).

    The old text is copied, not moved, so a turn reading it meanwhile never finds none.
    """
    if not links_free(base, root / HISTORY_DIR):
        raise UnsafeFile("a directory on the way to MEMORY.md is a symlink")
    path = root / MEMORY_FILE
    old = read_regular(base, path)
    if old == text:  # a redone rewrite: nothing changes, and no second copy is kept
        return path
    if old is not None:
        kept = root / HISTORY_DIR / f"MEMORY.{now.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.md"
        replace_regular(base, kept, old.encode("utf-8"))
    replace_regular(base, path, text.encode("utf-8"))
    return path


def memory_history(root: Path) -> list[Path]:
    history = root / HISTORY_DIR
    return sorted(history.glob("MEMORY.*.md")) if history.is_dir() else []

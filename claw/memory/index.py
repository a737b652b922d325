"""The search index: SQLite FTS5 over memory entries, a cache of the files and nothing more.

One index file per group under ``$CLAW_HOME/memory-index/``, holding that group's entries and
the global ones, so a search can only ever see what the group may read (there is no query to
get wrong) and global entries rank on the same bm25 statistics as the group's own. It is its
own SQLite file, not a table in the main database, so it works the same when that database is
PostgreSQL. A deleted or corrupt index is rebuilt from the files.

Keeping up with the files without a stat per file per search (10,000 files cost ~30 ms):
before each search only the memory roots and their category directories are stat()ed (a
dozen calls). A file created, deleted or renamed (an editor saving) changes its directory's
mtime; claw's own appends set it explicitly (claw.memory.files); the agent's code sees memory
read-only (claw.sandbox). When that fingerprint
changed, or ``RESCAN_SECONDS`` after the last full scan (for a file rewritten in place by
hand), every file is stat()ed and each one whose mtime or size changed is parsed again.

Ranking: bm25 over Porter-stemmed words (so "birthdays" finds "birthday"), every query word
also matching as a prefix, raised for recent entries by a factor from 2 (today) falling
towards 1 (``RECENCY_DAYS`` old: 1.5).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from claw.memory.files import CATEGORIES, parse_entries
from claw.memory.safe_files import links_free, read_regular

log = logging.getLogger(__name__)

UTC = timezone.utc
SCHEMA_VERSION = 3  #: an index of another version is dropped and rebuilt from the files
RECENCY_DAYS = 30.0
#: a file edited in place by hand (its directory unchanged) is seen within this long
RESCAN_SECONDS = 10.0
MAX_QUERY_WORDS = 12
BUSY_TIMEOUT_MS = 10_000
STOPWORDS = frozenset(
    "a about all an and any are as at be by did do does for from had has have i in is it me my "
    "of on or our remember tell that the their them there this to us was we what when where "
    "which who whom why with you your".split()
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS scans (id INTEGER PRIMARY KEY CHECK (id = 1), fingerprint TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY, file TEXT NOT NULL, scope TEXT NOT NULL, category TEXT NOT NULL,
    topic TEXT NOT NULL, written_at REAL NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS notes_file ON notes(file);
CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(
    text, topic, content='notes', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2', prefix='2 3');
CREATE TRIGGER IF NOT EXISTS notes_ai AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts(rowid, text, topic) VALUES (new.id, new.text, new.topic);
END;
CREATE TRIGGER IF NOT EXISTS notes_ad AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts(notes_fts, rowid, text, topic) VALUES ('delete', old.id, old.text, old.topic);
END;
"""

DROP = """
DROP TRIGGER IF EXISTS notes_ai; DROP TRIGGER IF EXISTS notes_ad; DROP TABLE IF EXISTS notes_fts;
DROP TABLE IF EXISTS notes; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS scans;
"""

SEARCH = """
SELECT n.file, n.scope, n.category, n.topic, n.written_at,
       snippet(notes_fts, 0, '', '', '…', 32) AS snippet,
       bm25(notes_fts, 1.0, 1.0) * (1.0 + 1.0 / (1.0 + max(0.0, :now - n.written_at) / :recency)) AS score
FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid
WHERE notes_fts MATCH :query
ORDER BY score
LIMIT :limit
"""


@dataclass(frozen=True, slots=True)
class Source:
    """A memory root the index covers, and the scope its entries are shown under."""

    scope: str  #: "group" | "global"
    root: Path
    base: Path  #: the workspace: nothing below it may be a symlink


@dataclass(frozen=True, slots=True)
class Hit:
    file: str  #: "<category>/<name>.md"; a global one starts with "global/"
    scope: str
    category: str
    topic: str
    written_at: datetime
    snippet: str
    score: float


@dataclass(frozen=True, slots=True)
class IndexedFile:
    file: str
    scope: str
    category: str
    topic: str
    entries: int
    last_written: datetime


def fts_query(text: str) -> str:
    """Every word as a quoted prefix term, OR-ed: bm25 ranks entries matching more words first."""
    words = list(dict.fromkeys(re.findall(r"[^\W_]+", text.lower())))
    meaningful = [w for w in words if w not in STOPWORDS and len(w) > 1]
    chosen = (meaningful or words)[:MAX_QUERY_WORDS]
    return " OR ".join(f'"{word}"*' for word in chosen)


def _on_disk(sources: Sequence[Source]) -> dict[str, tuple[int, int, str, Source, str]]:
    """Every memory file by key: regular files only, in directories reached without a symlink.

    Called before every search, so it is kept lean: one scandir per directory and one stat
    per file (2-3 ms per 1000 files: the part of a search that grows with the number of files).
    """
    found = {}
    for source in sources:
        for category in CATEGORIES:
            if not links_free(source.base, source.root / category):
                log.warning("memory_symlink_skipped scope=%s category=%s", source.scope, category)
                continue
            try:
                listing = os.scandir(source.root / category)
            except (FileNotFoundError, NotADirectoryError):
                continue
            prefix = f"{category}/" if source.scope == "group" else f"{source.scope}/{category}/"
            with listing:
                for entry in listing:
                    name = entry.name
                    if name[0] == "." or not name.endswith(".md") or not entry.is_file(follow_symlinks=False):
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    found[prefix + name] = (info.st_mtime_ns, info.st_size, entry.path, source, category)
    return found


def fingerprint(sources: Sequence[Source]) -> str:
    """The mtimes of the memory roots and their category directories: changes when a file is
    created, deleted or renamed there, or when claw notes a write (claw.memory.files)."""
    parts = []
    for source in sources:
        for directory in (source.root, *(source.root / category for category in CATEGORIES)):
            try:
                parts.append(str(os.stat(directory, follow_symlinks=False).st_mtime_ns))
            except (FileNotFoundError, NotADirectoryError):
                parts.append("-")
    return " ".join(parts)


class MemoryIndex:
    """One group's index file. Cheap to open; open one per use (it is never shared across forks)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                             check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(f"BEGIN IMMEDIATE; {DROP} {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            return db
        except sqlite3.DatabaseError:
            db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def current(self) -> bool:
        """Whether the file still holds an index of this schema version (cheap: one pragma)."""
        return bool(self.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION)

    def rebuild(self) -> None:
        """Throw the index away and start empty (the next sync re-reads every file)."""
        self.db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.db = self._open()

    def sync(self, sources: Sequence[Source], *, now: float | None = None) -> int:
        """Re-index every file whose mtime or size changed, drop deleted ones; returns how many.

        Skipped (a dozen stats) while the directories' fingerprint is the one of the last full
        scan, for up to RESCAN_SECONDS. The fingerprint is taken before the scan, so a write
        during the scan leaves a stale fingerprint behind and the next search scans again.
        """
        now = time.time() if now is None else now
        current = fingerprint(sources)
        last = self.db.execute("SELECT fingerprint, at FROM scans WHERE id = 1").fetchone()
        if last is not None and last[0] == current and 0 <= now - last[1] < RESCAN_SECONDS:
            return 0
        changes = self._scan(sources)
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO scans(id, fingerprint, at) VALUES (1, ?, ?)", (current, now))
        return changes

    def _scan(self, sources: Sequence[Source]) -> int:
        disk = _on_disk(sources)
        known = {path: (mtime, size) for path, mtime, size in self.db.execute("SELECT path, mtime_ns, size FROM files")}
        changed = [key for key, found in disk.items() if known.get(key) != found[:2]]
        gone = [key for key in known if key not in disk]
        if not changed and not gone:
            return 0  # the usual case: no write lock taken
        with self._transaction():
            for key in gone:
                self.db.execute("DELETE FROM notes WHERE file = ?", (key,))
                self.db.execute("DELETE FROM files WHERE path = ?", (key,))
            for key in changed:
                mtime, size, path, source, category = disk[key]
                self._index_file(key, path, source, category, mtime, size)
        log.info("memory_reindexed index=%s files=%d removed=%d", self.path.name, len(changed), len(gone))
        return len(changed) + len(gone)

    def _index_file(self, key: str, where: str, source: Source, category: str, mtime: int, size: int) -> None:
        path = Path(where)
        text = read_regular(source.base, path) or ""
        day = None
        if category == "daily":
            try:
                day = date.fromisoformat(path.stem)
            except ValueError:
                day = None
        fallback = datetime.fromtimestamp(mtime / 1e9, UTC)
        title, entries = parse_entries(text, fallback=fallback, day=day)
        topic = title or path.stem
        self.db.execute("DELETE FROM notes WHERE file = ?", (key,))
        self.db.executemany(
            "INSERT INTO notes(file, scope, category, topic, written_at, text) VALUES (?, ?, ?, ?, ?, ?)",
            [(key, source.scope, category, topic, e.written_at.timestamp(), e.text) for e in entries],
        )
        self.db.execute("INSERT OR REPLACE INTO files(path, mtime_ns, size) VALUES (?, ?, ?)", (key, mtime, size))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def search(self, query: str, *, limit: int, now: datetime) -> list[Hit]:
        match = fts_query(query)
        if not match:
            return []
        rows = self.db.execute(
            SEARCH,
            {"query": match, "limit": limit, "now": now.timestamp(), "recency": RECENCY_DAYS * 86400},
        )
        return [
            Hit(file, scope, category, topic, datetime.fromtimestamp(written, UTC), snippet, score)
            for file, scope, category, topic, written, snippet, score in rows
        ]

    def files(self, category: str | None = None) -> list[IndexedFile]:
        query = ("SELECT file, scope, category, max(topic), count(*), max(written_at) FROM notes "
                 + ("WHERE category = ? " if category else "") + "GROUP BY file ORDER BY file")
        rows = self.db.execute(query, (category,) if category else ())
        return [IndexedFile(file, scope, cat, topic, count, datetime.fromtimestamp(last, UTC))
                for file, scope, cat, topic, count, last in rows]

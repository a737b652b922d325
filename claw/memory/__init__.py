"""Long-term memory: markdown files per group (the truth) and an FTS5 index over them (a cache).

    files.py   where the files live, appending entries, reading them back
    index.py   the per-group SQLite FTS5 index: sync by mtime, bm25 + recency search
    store.py   GroupMemory (save, search, files, curate) and what a turn uses:
               memory_prompt (MEMORY.md for the system prompt), record_turn (the daily line)

Errors: MemoryRefused, whose message says what to do instead.
"""

from claw.memory.files import CATEGORIES, global_memory_root, group_memory_root, memory_history, slugify
from claw.memory.index import Hit, IndexedFile, MemoryIndex, Source, fts_query
from claw.memory.store import GroupMemory, MemoryRefused, daily_line, index_path, memory_prompt, record_turn

__all__ = [
    "CATEGORIES",
    "GroupMemory",
    "Hit",
    "IndexedFile",
    "MemoryIndex",
    "MemoryRefused",
    "Source",
    "daily_line",
    "fts_query",
    "global_memory_root",
    "group_memory_root",
    "index_path",
    "memory_history",
    "memory_prompt",
    "record_turn",
    "slugify",
]

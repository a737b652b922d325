"""`claw bench memory`: how long search_memory takes over many notes.

A temporary workspace gets ``notes`` entries spread over ``files`` topic files of one group;
each timed search is what the tool does: take the group's index (kept open per process),
check its directories for changes (claw.memory.index), and run the ranked FTS5 query.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from claw.bench.report import percentile
from claw.db.models import utcnow
from claw.memory import GroupMemory
from claw.memory.files import append_entry

#: what the issue asks of a search
SEARCH_TARGET_MS = 20.0
WORDS = (
    "garden tomato basil harbour boat engine invoice budget meeting standup deploy server backup "
    "birthday party cake present holiday flight hotel train ticket passport doctor dentist school "
    "homework football match concert guitar piano recipe pasta curry coffee tea wine cheese bread "
    "market rent landlord plumber heating window roof paint car tyre insurance bank loan salary "
    "project deadline release bug review design customer contract lawyer tax receipt password wifi"
).split()


@dataclass(frozen=True)
class MemoryBench:
    notes: int
    files: int
    build_s: float
    search_ms: list[float]
    hits: int


def _write_notes(memory: GroupMemory, notes: int, files: int) -> None:
    rng = random.Random(10)
    now = utcnow()
    for n in range(notes):
        topic = f"topic {n % files}"
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 20)))
        path = memory.root / "topics" / f"topic-{n % files}.md"
        append_entry(memory.workspace, path, topic, f"{text} (note {n})",
                     at=now - timedelta(days=rng.uniform(0, 365)))


def run_memory_bench(*, notes: int, files: int, runs: int) -> MemoryBench:
    with tempfile.TemporaryDirectory(prefix="claw-bench-memory-") as directory:
        root = Path(directory)
        memory = GroupMemory(workspace=root / "workspace", index_dir=root / "memory-index", group_id="http:bench")
        _write_notes(memory, notes, max(1, files))
        begin = time.perf_counter()
        memory.search("warm up", now=utcnow())  # builds the index from the files
        build = time.perf_counter() - begin
        rng = random.Random(11)
        timings, hits = [], 0
        for _ in range(runs):
            query = " ".join(rng.sample(WORDS, 2))
            begin = time.perf_counter()
            hits += len(memory.search(query, limit=8, now=utcnow()))
            timings.append((time.perf_counter() - begin) * 1000)
        return MemoryBench(notes, files, build, timings, hits)


def render_memory(bench: MemoryBench) -> str:
    p50, p99 = percentile(bench.search_ms, 50), percentile(bench.search_ms, 99)
    met = "met" if p50 <= SEARCH_TARGET_MS else "MISSED"
    return "\n".join([
        f"claw bench memory: {bench.notes} notes in {bench.files} files of one group; "
        f"index built from the files in {bench.build_s * 1000:.0f} ms",
        f"search      p50 {p50:.2f} ms   p99 {p99:.2f} ms   over {len(bench.search_ms)} two-word searches "
        f"({bench.hits / max(1, len(bench.search_ms)):.1f} hits each)   target p50 <= {SEARCH_TARGET_MS:g} ms: {met}",
    ])

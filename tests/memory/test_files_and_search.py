"""Memory files are the truth and the FTS5 index a cache of them: append-only entries, ranked
search with prefixes and recency, hand edits found, an index that can be thrown away, and no
way for one group to search another's memory."""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from claw.memory import GroupMemory, MemoryRefused, fts_query, global_memory_root, group_memory_root, slugify
from claw.memory.files import parse_entries
from claw.memory.index import RESCAN_SECONDS

UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def memory(tmp_path: Path) -> GroupMemory:
    return memory_of(tmp_path, "http:team")


def memory_of(tmp_path: Path, group_id: str, *, is_main: bool = False) -> GroupMemory:
    return GroupMemory(workspace=tmp_path / "workspace", index_dir=tmp_path / "home" / "memory-index",
                       group_id=group_id, is_main=is_main)


def texts(memory: GroupMemory, query: str, now: datetime = NOW) -> list[str]:
    return [hit.snippet for hit in memory.search(query, now=now)]


# ---- files -------------------------------------------------------------------------------


def test_entries_are_appended_with_a_timestamp_and_never_rewritten(memory: GroupMemory) -> None:
    # Given one saved entry
    where = memory.save("topics", "Garden", "The tomatoes go in after the frost", now=NOW)
    path = memory.root / where
    first = path.read_bytes()
    # When a second one is saved to the same topic
    memory.save("topics", "garden", "Basil needs sun", now=NOW + timedelta(hours=1))
    # Then the file begins with exactly what it held before, and both are timestamped
    assert where == "topics/garden.md"
    assert path.read_bytes().startswith(first)
    assert path.read_text() == (
        "# Garden\n\n"
        "## 2026-03-01 12:00 +00:00\n\nThe tomatoes go in after the frost\n\n"
        "## 2026-03-01 13:00 +00:00\n\nBasil needs sun\n\n"
    )


def test_files_live_under_the_groups_memory_directory(memory: GroupMemory, tmp_path: Path) -> None:
    memory.save("people", "Alice Smith", "likes green tea", now=NOW)
    memory.save("daily", "ignored", "went to the market", now=NOW)
    root = tmp_path / "workspace" / "groups" / "http%3Ateam" / "memory"
    assert root == group_memory_root(tmp_path / "workspace", "http:team")
    assert (root / "people" / "alice-smith.md").is_file()
    assert (root / "daily" / "2026-03-01.md").is_file()


@pytest.mark.parametrize(
    ("topic", "slug"),
    [("../../etc/passwd", "etc-passwd"), ("..", "notes"), ("", "notes"), ("Über Café", "über-café"),
     ("a/b\\c", "a-b-c"), ("x" * 100, "x" * 60)],
)
def test_a_topic_never_escapes_its_category_directory(topic: str, slug: str) -> None:
    assert slugify(topic) == slug


def test_refusals_say_what_to_do(memory: GroupMemory) -> None:
    with pytest.raises(MemoryRefused, match="nothing to remember"):
        memory.save("topics", "x", "   ", now=NOW)
    with pytest.raises(MemoryRefused, match="unknown category 'secrets'; use one of: topics, people, daily"):
        memory.save("secrets", "x", "y", now=NOW)
    with pytest.raises(MemoryRefused, match="at most 4000"):
        memory.save("topics", "x", "y" * 4001, now=NOW)


def test_hand_written_text_parses_as_entries_dated_by_the_file() -> None:
    mtime = datetime(2026, 2, 1, tzinfo=UTC)
    title, entries = parse_entries(
        "# Cars\n\nThe van needs new tyres.\n\n## Insurance\nRenew in May.\n\n"
        "## 2026-01-05 10:00 +01:00\n\nBought winter tyres.\n",
        fallback=mtime,
    )
    assert title == "Cars"
    assert [(e.written_at, e.text) for e in entries] == [
        (mtime, "The van needs new tyres."),
        (mtime, "Insurance\nRenew in May."),
        (datetime(2026, 1, 5, 9, 0, tzinfo=UTC), "Bought winter tyres."),
    ]


# ---- search ------------------------------------------------------------------------------


def test_search_finds_by_word_prefix_and_says_file_and_date(memory: GroupMemory) -> None:
    memory.save("topics", "notes", "Alice's birthday is on 4 May", now=NOW)
    [hit] = memory.search("birth", now=NOW)
    assert (hit.file, hit.category, hit.topic, hit.written_at) == ("topics/notes.md", "topics", "notes", NOW)
    assert hit.snippet == "Alice's birthday is on 4 May"
    # and other forms of the same word
    assert texts(memory, "birthdays") == texts(memory, "BIRTHDAY") == ["Alice's birthday is on 4 May"]
    assert memory.search("volcano", now=NOW) == []
    assert memory.search("  ?? ", now=NOW) == []


def test_entries_matching_more_words_rank_first(memory: GroupMemory) -> None:
    memory.save("topics", "food", "Bob likes pizza", now=NOW)
    memory.save("topics", "food", "Alice likes sushi and pizza on Fridays", now=NOW)
    memory.save("topics", "food", "Sushi place on Main Street closed", now=NOW)
    assert texts(memory, "what does alice like: sushi or pizza?")[0] == "Alice likes sushi and pizza on Fridays"


def test_recent_entries_rank_above_old_ones_that_match_as_well(memory: GroupMemory) -> None:
    memory.save("topics", "wifi", "The wifi password is hunter2", now=NOW - timedelta(days=400))
    memory.save("topics", "wifi", "The wifi password is correct-horse", now=NOW - timedelta(days=2))
    memory.save("topics", "wifi", "The wifi password is tr0ub4dor", now=NOW - timedelta(days=90))
    assert texts(memory, "wifi password") == [
        "The wifi password is correct-horse", "The wifi password is tr0ub4dor", "The wifi password is hunter2"]


def test_a_file_edited_by_hand_is_reindexed_before_the_next_search(memory: GroupMemory) -> None:
    memory.save("topics", "boat", "The boat is in the harbour", now=NOW)
    assert texts(memory, "harbour") == ["The boat is in the harbour"]
    # When someone rewrites the file in an editor, and adds a new file of their own
    path = memory.root / "topics" / "boat.md"
    path.write_text("# boat\n\nThe boat is in the dry dock for winter\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    (memory.root / "people").mkdir()
    (memory.root / "people" / "carol.md").write_text("Carol owns the dry dock\n")
    # Then the next search sees the files as they are now
    assert texts(memory, "harbour") == []
    assert sorted(texts(memory, "dry dock")) == ["Carol owns the dry dock", "The boat is in the dry dock for winter"]
    # And a deleted file is gone from the results
    path.unlink()
    assert texts(memory, "dry dock") == ["Carol owns the dry dock"]


def test_an_entry_appended_to_a_file_already_indexed_is_found_at_once(memory: GroupMemory) -> None:
    # Given a searched file (the index remembers the directories as they were)
    memory.save("topics", "boat", "The boat is in the harbour", now=NOW)
    assert texts(memory, "boat") == ["The boat is in the harbour"]
    # When claw appends to that same file (no file created: its directory's listing is unchanged)
    memory.save("topics", "boat", "The boat needs new sails", now=NOW)
    # Then the very next search finds the new entry
    assert sorted(texts(memory, "boat")) == ["The boat is in the harbour", "The boat needs new sails"]


def test_a_file_rewritten_in_place_by_hand_is_seen_within_the_rescan_period(
    memory: GroupMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.save("topics", "boat", "The boat is in the harbour", now=NOW)
    assert texts(memory, "harbour") == ["The boat is in the harbour"]
    # When someone rewrites the file in place (same inode: its directory does not change)
    path = memory.root / "topics" / "boat.md"
    path.write_text("# boat\n\nThe boat is in the dry dock for winter\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    # Then once RESCAN_SECONDS have passed, a search sees the file as it is now
    later = time.time() + RESCAN_SECONDS + 1
    monkeypatch.setattr("claw.memory.index.time.time", lambda: later)
    assert texts(memory, "harbour") == []
    assert texts(memory, "dry dock") == ["The boat is in the dry dock for winter"]


def test_deleting_or_corrupting_the_index_loses_nothing(memory: GroupMemory) -> None:
    memory.save("topics", "keys", "The spare key is under the blue pot", now=NOW)
    assert texts(memory, "spare key") == ["The spare key is under the blue pot"]
    memory.index_file.unlink()
    assert texts(memory, "spare key") == ["The spare key is under the blue pot"]
    memory.index_file.write_bytes(b"this is not a database" * 100)
    assert texts(memory, "spare key") == ["The spare key is under the blue pot"]
    # an index of another schema version is rebuilt too
    with closing(sqlite3.connect(memory.index_file, isolation_level=None)) as db:
        db.execute("DELETE FROM notes")
        db.execute("PRAGMA user_version = 1")
    assert texts(memory, "spare key") == ["The spare key is under the blue pot"]


def test_one_group_can_never_search_anothers_memory(tmp_path: Path) -> None:
    team, other = memory_of(tmp_path, "http:team"), memory_of(tmp_path, "http:other")
    team.save("topics", "plans", "The surprise party is on Saturday", now=NOW)
    assert texts(other, "surprise party") == []
    assert other.files() == []
    # And the other group's index holds nothing of it
    assert b"surprise" not in other.index_file.read_bytes()
    assert team.index_file != other.index_file


def test_global_memory_is_read_by_every_group_and_written_only_by_a_main_group(tmp_path: Path) -> None:
    main, team = memory_of(tmp_path, "http:boss", is_main=True), memory_of(tmp_path, "http:team")
    with pytest.raises(MemoryRefused, match="only the main group"):
        team.save("topics", "office", "The office closes at 6", scope="global", now=NOW)
    where = main.save("topics", "office", "The office closes at 6", scope="global", now=NOW)
    assert where == "global/topics/office.md"
    assert (global_memory_root(tmp_path / "workspace") / "topics" / "office.md").is_file()
    for memory in (main, team):
        [hit] = memory.search("office", now=NOW)
        assert (hit.file, hit.scope) == ("global/topics/office.md", "global")


def test_files_lists_entries_per_file(memory: GroupMemory) -> None:
    memory.save("topics", "notes", "one", now=NOW)
    memory.save("topics", "notes", "two", now=NOW + timedelta(days=1))
    memory.save("people", "Dan", "Dan plays chess", now=NOW)
    listed = [(f.file, f.topic, f.entries, f.last_written) for f in memory.files()]
    assert listed == [("people/dan.md", "Dan", 1, NOW), ("topics/notes.md", "notes", 2, NOW + timedelta(days=1))]
    assert [f.file for f in memory.files("people")] == ["people/dan.md"]


def test_fts_query_quotes_words_as_prefixes_and_drops_filler() -> None:
    assert fts_query("What do you remember about Alice's birthday?") == '"alice"* OR "birthday"*'
    assert fts_query('NEAR("x" AND y*)') == '"near"*'  # operators become plain words
    assert fts_query("the") == '"the"*'
    assert fts_query("?!") == ""

"""Memory writes a redone turn may repeat: an entry saved under a tool call's marker is saved
once, and rewriting MEMORY.md to the text it already holds keeps no second copy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from claw.memory import GroupMemory, memory_history
from claw.memory.files import parse_entries

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def memory_of(tmp_path: Path) -> GroupMemory:
    return GroupMemory(workspace=tmp_path / "workspace", index_dir=tmp_path / "index", group_id="http:team")


def test_an_entry_saved_again_under_the_same_marker_is_not_appended(tmp_path: Path) -> None:
    memory = memory_of(tmp_path)
    # Given an entry saved by a tool call
    where = memory.save("topics", "garden", "Basil needs sun", now=NOW, marker="k1.1.1")
    # When the same call is redone a minute later, and another call saves the same words
    memory.save("topics", "garden", "Basil needs sun", now=NOW + timedelta(minutes=1), marker="k1.1.1")
    memory.save("topics", "garden", "Basil needs sun", now=NOW + timedelta(minutes=2), marker="k2.1.1")
    # Then the redone save added nothing, and the other call's entry is there
    text = (memory.root / where).read_text()
    assert text == (
        "# garden\n\n"
        "## 2026-03-01 12:00 +00:00 <!-- claw:k1.1.1 -->\n\nBasil needs sun\n\n"
        "## 2026-03-01 12:02 +00:00 <!-- claw:k2.1.1 -->\n\nBasil needs sun\n\n"
    )
    # And the marked headings still date their entries, whose text stays clean
    _, entries = parse_entries(text, fallback=NOW + timedelta(days=9))
    assert [(e.written_at, e.text) for e in entries] == [
        (NOW, "Basil needs sun"), (NOW + timedelta(minutes=2), "Basil needs sun")]
    assert [h.snippet for h in memory.search("basil", now=NOW)] == ["Basil needs sun"] * 2


def test_rewriting_memory_md_to_its_own_text_keeps_no_second_copy(tmp_path: Path) -> None:
    memory = memory_of(tmp_path)
    memory.curate("old", now=NOW)
    memory.curate("new", now=NOW + timedelta(minutes=1))
    memory.curate("new", now=NOW + timedelta(minutes=2))
    assert (memory.root / "MEMORY.md").read_text() == "new\n"
    assert [p.read_text() for p in memory_history(memory.root)] == ["old\n"]

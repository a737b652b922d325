"""A group's directory is also the sandbox's /workspace: whatever code left there (symlinks out
of it, FIFOs) is never read, written or followed by the host's memory functions."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from claw.memory import GroupMemory, MemoryRefused, group_memory_root, memory_prompt, record_turn

UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host file the sandbox must not reach."""
    secret = tmp_path / "host" / "secret.md"
    secret.parent.mkdir()
    secret.write_text("# secret\n\nthe root password is swordfish\n")
    return secret


@pytest.fixture
def memory(tmp_path: Path) -> GroupMemory:
    memory = GroupMemory(workspace=tmp_path / "workspace", index_dir=tmp_path / "index", group_id="http:team")
    memory.save("topics", "notes", "a normal note about passwords", now=NOW)
    return memory


def test_a_symlinked_memory_file_is_not_indexed(memory: GroupMemory, outside: Path) -> None:
    (memory.root / "topics" / "leak.md").symlink_to(outside)
    assert [h.file for h in memory.search("password", now=NOW)] == ["topics/notes.md"]
    assert [f.file for f in memory.files()] == ["topics/notes.md"]


def test_a_symlinked_category_directory_is_not_indexed(memory: GroupMemory, outside: Path) -> None:
    (memory.root / "people").symlink_to(outside.parent, target_is_directory=True)
    assert memory.search("swordfish", now=NOW) == []


def test_saving_never_writes_through_a_symlink(memory: GroupMemory, outside: Path) -> None:
    before = outside.read_text()
    (memory.root / "topics" / "evil.md").symlink_to(outside)
    with pytest.raises(MemoryRefused, match="cannot write that memory file"):
        memory.save("topics", "evil", "appended to a host file?", now=NOW)
    (memory.root / "people").symlink_to(outside.parent, target_is_directory=True)
    with pytest.raises(MemoryRefused):
        memory.save("people", "secret", "appended to a host file?", now=NOW)
    assert outside.read_text() == before
    # nor the daily line of a turn
    (memory.root / "daily").symlink_to(outside.parent, target_is_directory=True)
    record_turn(memory.workspace, "http:team", [], "reply", at=NOW)
    assert sorted(p.name for p in outside.parent.iterdir()) == ["secret.md"]


def test_a_symlinked_memory_md_is_not_put_in_the_prompt_nor_copied_to_history(
    memory: GroupMemory, outside: Path
) -> None:
    link = group_memory_root(memory.workspace, "http:team") / "MEMORY.md"
    link.symlink_to(outside)
    assert memory_prompt(memory.workspace, "http:team") == ""
    memory.curate("- the real memory", now=NOW)
    assert not link.is_symlink() and link.read_text() == "- the real memory\n"
    assert not (memory.root / ".history").exists() or all(
        "swordfish" not in p.read_text() for p in (memory.root / ".history").iterdir())
    assert outside.read_text().endswith("swordfish\n")


@pytest.mark.timeout(20)
def test_a_fifo_where_a_file_should_be_neither_blocks_nor_breaks_search(memory: GroupMemory) -> None:
    os.mkfifo(memory.root / "topics" / "pipe.md")
    assert [h.file for h in memory.search("password", now=NOW)] == ["topics/notes.md"]
    with pytest.raises(MemoryRefused):
        memory.save("topics", "pipe", "into the pipe", now=NOW)

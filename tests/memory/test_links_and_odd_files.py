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


def test_invalid_utf8_and_huge_memory_md_degrade_the_prompt_but_never_break_it(memory: GroupMemory) -> None:
    # Given MEMORY.md with bytes that are not UTF-8
    path = group_memory_root(memory.workspace, "http:team") / "MEMORY.md"
    path.write_bytes(b"- likes tea \xff\xfe\n")
    # Then the prompt holds it with the bad bytes replaced
    assert "- likes tea \ufffd\ufffd" in memory_prompt(memory.workspace, "http:team")
    # And a huge one is read only in part, and clipped
    path.write_bytes(b"y" * (64 << 20))
    prompt = memory_prompt(memory.workspace, "http:team", max_chars=1000)
    assert 1000 <= len(prompt) < 1200
    # And a memory file with bad bytes is still indexed and found
    (memory.root / "topics" / "odd.md").write_bytes(b"# odd\n\nthe kettle \xff is broken\n")
    assert [h.file for h in memory.search("kettle", now=NOW)] == ["topics/odd.md"]


def test_a_symlink_chain_longer_than_path_max_is_not_followed(memory: GroupMemory, outside: Path) -> None:
    # Given memory/topics/chain.md -> mid/<9 long folders>/hop, mid -> <9 more>, hop -> a host file:
    # resolved, over 4,300 characters, which realpath judges wrongly and the kernel follows
    segment = "d" * 240
    deep = memory.root / "topics" / ".deep"
    fd = os.open(memory.root / "topics", os.O_RDONLY)
    try:
        os.mkdir(".deep", dir_fd=fd)
        current = os.open(".deep", os.O_RDONLY, dir_fd=fd)
        for _ in range(18):
            os.mkdir(segment, dir_fd=current)
            following = os.open(segment, os.O_RDONLY, dir_fd=current)
            os.close(current)
            current = following
        os.symlink(str(outside), "hop", dir_fd=current)
        os.close(current)
    finally:
        os.close(fd)
    os.symlink("/".join([segment] * 9), deep / "mid")
    (memory.root / "topics" / "chain.md").symlink_to("/".join([".deep", "mid", *[segment] * 9, "hop"]))
    assert "swordfish" in (memory.root / "topics" / "chain.md").read_text()  # the kernel follows it
    # Then memory never does: not in search, not when saving to it
    assert [h.file for h in memory.search("swordfish password", now=NOW)] == ["topics/notes.md"]
    with pytest.raises(MemoryRefused):
        memory.save("topics", "chain", "appended through the chain?", now=NOW)
    assert outside.read_text().endswith("swordfish\n")

"""What a turn uses: MEMORY.md in the system prompt, curated with history, and one daily line
per turn that later turns can search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from claw.memory import (
    GroupMemory,
    global_memory_root,
    group_memory_root,
    memory_history,
    memory_prompt,
    record_turn,
)

UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Said:
    sender: str
    text: str


def test_no_memory_md_adds_nothing_to_the_prompt(tmp_path: Path) -> None:
    assert memory_prompt(tmp_path, "http:team") == ""


def test_the_prompt_has_the_global_and_the_groups_memory_md(tmp_path: Path) -> None:
    main = GroupMemory(workspace=tmp_path, index_dir=tmp_path / "idx", group_id="http:boss", is_main=True)
    main.curate("- The company is called Acme.", scope="global", now=NOW)
    GroupMemory(workspace=tmp_path, index_dir=tmp_path / "idx", group_id="http:team").curate(
        "- Standup is at 9:30.", now=NOW)

    prompt = memory_prompt(tmp_path, "http:team")

    assert "## Shared by every group\n- The company is called Acme.\n" in prompt
    assert "## This group\n- Standup is at 9:30.\n" in prompt
    # another group gets the global part only
    other = memory_prompt(tmp_path, "http:other")
    assert "Acme" in other and "Standup" not in other


def test_a_long_memory_md_is_clipped_to_its_share(tmp_path: Path) -> None:
    memory = GroupMemory(workspace=tmp_path, index_dir=tmp_path / "idx", group_id="http:team")
    memory.curate("x" * 5000, now=NOW)
    prompt = memory_prompt(tmp_path, "http:team", max_chars=1000)
    assert "x" * 999 + "…" in prompt and "x" * 1000 not in prompt


def test_curating_keeps_every_previous_version(tmp_path: Path) -> None:
    memory = GroupMemory(workspace=tmp_path, index_dir=tmp_path / "idx", group_id="http:team")
    memory.curate("first", now=NOW)
    memory.curate("second", now=NOW.replace(minute=1))
    memory.curate("third", now=NOW.replace(minute=2))
    root = group_memory_root(tmp_path, "http:team")
    assert (root / "MEMORY.md").read_text() == "third\n"
    assert [p.read_text() for p in memory_history(root)] == ["first\n", "second\n"]
    assert not global_memory_root(tmp_path).exists()


def test_each_turn_appends_one_line_to_the_daily_file(tmp_path: Path) -> None:
    # Given two turns in a group whose day is Berlin's
    record_turn(tmp_path, "http:team", [Said("alice", "remind me in 1 minute to\ncall mum")],
                "Reminder #1 set for 13:01 (Europe/Berlin): call mum", tz="Europe/Berlin", at=NOW,
                tools=["schedule_task"])
    record_turn(tmp_path, "http:team", [Said("bob", "hi"), Said("carol", "hello " * 40)], "bob: hi",
                tz="Europe/Berlin", at=NOW.replace(hour=23, minute=30))
    # Then each is one line in the daily file of its local date
    root = group_memory_root(tmp_path, "http:team") / "daily"
    assert (root / "2026-03-01.md").read_text() == (
        "# 2026-03-01\n\n"
        '- 13:00 alice: "remind me in 1 minute to call mum" → '
        '"Reminder #1 set for 13:01 (Europe/Berlin): call mum" [schedule_task]\n')
    [line] = (root / "2026-03-02.md").read_text().splitlines()[2:]
    assert line.startswith('- 00:30 bob, carol: "hi / hello hello') and line.endswith('…" → "bob: hi"')
    # And later turns can search them
    memory = GroupMemory(workspace=tmp_path, index_dir=tmp_path / "idx", group_id="http:team")
    [hit] = memory.search("call mum", now=NOW)
    assert hit.file == "daily/2026-03-01.md" and hit.category == "daily"


def test_recording_a_turn_never_raises(tmp_path: Path) -> None:
    (tmp_path / "groups").write_text("a file where the directory should be")
    record_turn(tmp_path, "http:team", [Said("a", "b")], "c", at=NOW)  # logged, not raised
    record_turn(tmp_path, "not-a-group-id", [Said("a", "b")], "c", at=NOW)

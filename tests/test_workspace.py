"""claw.workspace: each group's directory, and the personality that becomes its prompt."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

import pytest

from claw.personality import DEFAULT_PERSONALITY, load_personality
from claw.workspace import group_dir, group_dir_name

HOSTILE_IDS = [
    "http:..",
    "http:.",
    "http:../other",
    "http:../../etc",
    "http:a/b",
    "http:/abs",
    "http:a\\b",
    "whatsapp:123@g.us",
    "telegram:-1001234",
    "http:%2e%2e",
    "http:",
    "http:~",
    "http:spaces and ünïcode",
]


@pytest.mark.parametrize("group_id", HOSTILE_IDS)
def test_group_dir_name_is_one_plain_path_component(group_id: str) -> None:
    name = group_dir_name(group_id)

    assert name not in ("", ".", "..")
    assert "/" not in name and os.sep not in name
    assert "\\" not in name
    assert ":" not in name
    assert Path(name).name == name  # exactly one component


@pytest.mark.parametrize("group_id", HOSTILE_IDS)
def test_group_dir_name_is_reversible(group_id: str) -> None:
    assert unquote(group_dir_name(group_id)) == group_id


LONG_IDS = ["http:" + "💥" * 200, "http:" + "💥" * 199 + "x", "http:" + "a" * 300, "http:" + "é" * 120]


@pytest.mark.parametrize("group_id", LONG_IDS)
def test_a_long_group_id_gets_a_name_the_filesystem_takes(tmp_path: Path, group_id: str) -> None:
    # A 200-character chat id (what the API accepts) of emoji escapes to 2,400 bytes: its folder,
    # memory index and quota image could not be made, and PUT personality answered 500
    name = group_dir_name(group_id)
    assert len(name.encode()) <= 239
    assert Path(name).name == name and "/" not in name
    (tmp_path / name).mkdir()
    (tmp_path / f"{name}.sqlite3-journal").write_text("")


def test_long_group_ids_keep_distinct_names_that_no_short_id_can_forge() -> None:
    names = {group_dir_name(g) for g in LONG_IDS}
    assert len(names) == len(LONG_IDS)
    # a chat id spelling another group's long name is escaped ('%' -> '%25'), never equal to it
    for name in names:
        assert group_dir_name("http:" + name.removeprefix("http%3A")) != name
    # names that fit are unchanged (existing folders stay where they are)
    assert group_dir_name("http:" + "a" * 200) == "http%3A" + "a" * 200


@pytest.mark.parametrize("group_id", [".", ".."])
def test_an_id_without_a_channel_is_refused_rather_than_mapped_to_a_directory(
    tmp_path: Path, group_id: str
) -> None:
    with pytest.raises(ValueError, match="not a group id"):
        group_dir(tmp_path, group_id)


def test_group_dir_name_escapes_colon_and_slash() -> None:
    assert group_dir_name("telegram:-1001234") == "telegram%3A-1001234"
    assert group_dir_name("http:a/b") == "http%3Aa%2Fb"


def test_distinct_groups_get_distinct_directories() -> None:
    names = {group_dir_name(g) for g in HOSTILE_IDS}
    assert len(names) == len(HOSTILE_IDS)


@pytest.mark.parametrize("group_id", HOSTILE_IDS)
def test_group_dir_stays_inside_the_groups_directory(tmp_path: Path, group_id: str) -> None:
    groups = (tmp_path / "groups").resolve()

    directory = group_dir(tmp_path, group_id).resolve()

    assert directory.parent == groups


# ---- load_personality ---------------------------------------------------------------------


def test_without_any_claude_md_the_default_personality_is_used(tmp_path: Path) -> None:
    assert load_personality(tmp_path, "http:team") == DEFAULT_PERSONALITY


def test_the_workspace_claude_md_is_the_fallback_for_every_group(tmp_path: Path) -> None:
    (tmp_path / "CLAUDE.md").write_text("You are a pirate.", encoding="utf-8")

    assert load_personality(tmp_path, "http:team") == "You are a pirate."
    assert load_personality(tmp_path, "whatsapp:123@g.us") == "You are a pirate."


def test_a_groups_claude_md_wins_for_that_group_only(tmp_path: Path) -> None:
    # Given a workspace personality and one group with its own
    (tmp_path / "CLAUDE.md").write_text("You are a pirate.", encoding="utf-8")
    own = group_dir(tmp_path, "http:team")
    own.mkdir(parents=True)
    (own / "CLAUDE.md").write_text("Réponds en français.", encoding="utf-8")

    # Then that group gets its own, and the others the workspace's
    assert load_personality(tmp_path, "http:team") == "Réponds en français."
    assert load_personality(tmp_path, "http:other") == "You are a pirate."


def test_a_group_claude_md_without_a_workspace_one_still_wins(tmp_path: Path) -> None:
    own = group_dir(tmp_path, "http:team")
    own.mkdir(parents=True)
    (own / "CLAUDE.md").write_text("Be brief.", encoding="utf-8")

    assert load_personality(tmp_path, "http:team") == "Be brief."
    assert load_personality(tmp_path, "http:other") == DEFAULT_PERSONALITY


def test_a_directory_named_claude_md_is_not_a_personality(tmp_path: Path) -> None:
    (group_dir(tmp_path, "http:team") / "CLAUDE.md").mkdir(parents=True)

    assert load_personality(tmp_path, "http:team") == DEFAULT_PERSONALITY


def test_a_group_cannot_read_another_groups_personality(tmp_path: Path) -> None:
    # Given a group "http:x" with a personality
    other = group_dir(tmp_path, "http:x")
    other.mkdir(parents=True)
    (other / "CLAUDE.md").write_text("secret of x", encoding="utf-8")

    # When a chat id tries to walk into it
    for group_id in ("http:../http%3Ax", "http:/../http%3Ax", "http:..%2Fhttp%3Ax"):
        # Then it gets the default, never x's file
        assert load_personality(tmp_path, group_id) == DEFAULT_PERSONALITY

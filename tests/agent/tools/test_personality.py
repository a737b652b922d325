"""The update_personality tool and the personality files behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw.agent import ToolCall
from claw.agent.tools import ToolContext, default_registry
from claw.config import Settings
from claw.personality import (
    DEFAULT_PERSONALITY,
    load_personality,
    personality_path,
    personality_source,
    previous_versions,
    save_personality,
)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext("http:team", tmp_path, Settings())


def update(ctx: ToolContext, **arguments: object):  # type: ignore[no-untyped-def]
    return default_registry().call(ToolCall("toolu_1", "update_personality", dict(arguments)), ctx)


def test_append_adds_a_line_to_the_personality_in_force(ctx: ToolContext, tmp_path: Path) -> None:
    # Given the workspace-wide personality
    (tmp_path / "CLAUDE.md").write_text("You are claw.\n")
    # When the agent appends to it for this group
    result = update(ctx, content="Be more cheerful.")
    # Then the group has its own CLAUDE.md: the old text plus the new line
    assert not result.is_error
    assert load_personality(tmp_path, "http:team") == "You are claw.\n- Be more cheerful.\n"
    assert personality_source(tmp_path, "http:team") == "group"
    # And other groups still use the workspace personality
    assert load_personality(tmp_path, "http:other") == "You are claw.\n"


def test_replace_keeps_the_previous_version(ctx: ToolContext, tmp_path: Path) -> None:
    save_personality(tmp_path, "http:team", "Version one.\n")
    update(ctx, content="Version two.", mode="replace")
    assert load_personality(tmp_path, "http:team") == "Version two.\n"
    [kept] = previous_versions(tmp_path, "http:team")
    assert kept.read_text() == "Version one.\n"


def test_a_too_long_personality_is_refused_and_nothing_changes(ctx: ToolContext, tmp_path: Path) -> None:
    result = update(ctx, content="x" * 30_000, mode="replace")
    assert result.is_error and "limit" in result.content
    assert not personality_path(tmp_path, "http:team").exists()
    assert load_personality(tmp_path, "http:team") == DEFAULT_PERSONALITY


def test_writes_leave_no_temporary_files(ctx: ToolContext, tmp_path: Path) -> None:
    for n in range(3):
        update(ctx, content=f"rule {n}")
    directory = personality_path(tmp_path, "http:team").parent
    assert sorted(p.name for p in directory.iterdir()) == [".personality", "CLAUDE.md"]
    assert len(previous_versions(tmp_path, "http:team")) == 2


def test_a_redone_update_changes_nothing_more(ctx: ToolContext, tmp_path: Path) -> None:
    save_personality(tmp_path, "http:team", "Version one.\n")
    # When a replace is done twice (a turn redone after it ran)
    update(ctx, content="Version two.", mode="replace")
    update(ctx, content="Version two.", mode="replace")
    # Then one version is kept, not two
    assert [p.read_text() for p in previous_versions(tmp_path, "http:team")] == ["Version one.\n"]
    # And an append done twice adds its line once
    update(ctx, content="Be brief.")
    update(ctx, content="Be brief.")
    assert load_personality(tmp_path, "http:team") == "Version two.\n- Be brief.\n"
    assert [p.read_text() for p in previous_versions(tmp_path, "http:team")] == [
        "Version one.\n", "Version two.\n"]

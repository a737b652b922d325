"""The update_personality tool and the personality files behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw.agent import ToolCall
from claw.agent.tools import ToolContext, default_registry
from claw.config import Settings
from claw.personality import (
    DEFAULT_PERSONALITY,
    MAX_PERSONALITY_CHARS,
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


# ---- read defensively: a bad CLAUDE.md degrades the prompt, never blocks the group ----------


def test_invalid_utf8_in_claude_md_is_replaced_not_a_crash(ctx: ToolContext, tmp_path: Path) -> None:
    # Given the group's CLAUDE.md holds bytes that are not UTF-8
    path = personality_path(tmp_path, "http:team")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"Be kind.\n\xff\xfe\xc3(\n")
    # Then it loads, with the bad bytes replaced, and the tool can still append to it
    assert load_personality(tmp_path, "http:team") == "Be kind.\n\ufffd\ufffd\ufffd(\n"
    assert not update(ctx, content="Be brief.").is_error
    assert load_personality(tmp_path, "http:team").endswith("- Be brief.\n")


def test_a_huge_claude_md_is_clipped(tmp_path: Path) -> None:
    path = personality_path(tmp_path, "http:team")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * (50 << 20))
    assert load_personality(tmp_path, "http:team") == "x" * MAX_PERSONALITY_CHARS


@pytest.mark.timeout(20)
def test_a_link_or_fifo_is_no_personality(tmp_path: Path) -> None:
    import os

    secret = tmp_path / "secret"
    secret.write_text("the token")
    path = personality_path(tmp_path, "http:team")
    path.parent.mkdir(parents=True)
    path.symlink_to(secret)
    assert load_personality(tmp_path, "http:team") == DEFAULT_PERSONALITY
    assert personality_source(tmp_path, "http:team") == "default"
    path.unlink()
    os.mkfifo(path)
    assert load_personality(tmp_path, "http:team") == DEFAULT_PERSONALITY
    path.unlink()
    path.symlink_to("/proc/kmsg")  # reading it as root waits for kernel messages, for good
    assert load_personality(tmp_path, "http:team") == DEFAULT_PERSONALITY
    path.unlink()
    os.mkfifo(path)
    # and saving replaces the FIFO instead of writing into it
    save_personality(tmp_path, "http:team", "Fresh.\n")
    assert path.read_text() == "Fresh.\n" and secret.read_text() == "the token"


def test_the_api_shows_a_personality_with_invalid_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from claw.api.app import create_app
    from claw.db import write_session
    from claw.db.migrate import upgrade
    from claw.pipeline.inbox import ensure_group
    from tests.support.databases import as_default_database

    # Given a group whose CLAUDE.md holds invalid UTF-8
    url = f"sqlite:///{tmp_path / 'claw.db'}"
    upgrade(url)
    monkeypatch.setenv("CLAW_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("CLAW_API_TOKEN", "t0ken")
    path = personality_path(tmp_path / "workspace", "http:team")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"Be kind \xff\n")
    with as_default_database(url, monkeypatch):
        with write_session() as session:
            ensure_group(session, "http", "team")
        client = TestClient(create_app())
        # When the personality is asked for over HTTP
        response = client.get("/v1/groups/http:team/personality", headers={"Authorization": "Bearer t0ken"})
    # Then it is shown (200), the bad byte replaced
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Be kind \ufffd\n" and response.json()["source"] == "group"

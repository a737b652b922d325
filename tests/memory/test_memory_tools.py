"""The memory tools, called as the model calls them, and driven by the offline model."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from claw.agent import ChatLine, ToolCall, TurnInput
from claw.agent.loop import run_agent
from claw.agent.offline import OfflineProvider
from claw.agent.tools import ToolContext, ToolResult, default_registry
from claw.config import Settings
from claw.memory import group_memory_root, memory_prompt


def context(tmp_path: Path, group_id: str = "http:team", *, is_main: bool = False) -> ToolContext:
    settings = Settings(home=tmp_path / "home", workspace=tmp_path / "workspace", tz="Europe/Berlin")
    return ToolContext(group_id, settings.workspace, settings, is_main=is_main)


def call(ctx: ToolContext, name: str, **arguments: object) -> ToolResult:
    return default_registry().call(ToolCall("toolu_1", name, dict(arguments)), ctx)


def say(ctx: ToolContext, text: str, sender: str = "alice") -> str:
    """One turn of the offline model: its reply to one message."""
    turn = TurnInput(ctx.group_id, "", [], [ChatLine("user", sender, text, datetime.now(timezone.utc))])
    return run_agent(OfflineProvider(), turn, default_registry(), ctx, max_iterations=4,
                     history_token_budget=8000).text


def test_the_offline_model_remembers_and_recalls(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    # When someone asks claw to remember something
    saved = say(ctx, "remember that the wifi password is hunter2")
    # Then it says so, and it is in the group's memory file
    assert saved == "I'll remember that: the wifi password is hunter2 (saved in topics/notes.md)"
    notes = group_memory_root(ctx.workspace, ctx.group_id) / "topics" / "notes.md"
    assert "the wifi password is hunter2" in notes.read_text()
    # And asking about it later finds it, with its file and date
    recalled = say(ctx, "what do you remember about the wifi?", sender="bob")
    assert re.fullmatch(
        r"Here is what I remember about the wifi:\n- the wifi password is hunter2 \(topics/notes\.md, \d{4}-\d\d-\d\d\)",
        recalled,
    ), recalled
    assert say(ctx, "what do you remember about volcanoes?") == "I don't remember anything about volcanoes."


def test_search_memory_stays_in_its_group(tmp_path: Path) -> None:
    call(context(tmp_path, "http:team"), "save_memory", category="people", topic="Eve", content="Eve is allergic to nuts")
    result = call(context(tmp_path, "http:other"), "search_memory", query="allergic nuts")
    assert result.content == "I don't remember anything about allergic nuts."
    # the group cannot be chosen by the model
    sneaky = call(context(tmp_path, "http:other"), "search_memory", query="nuts", group_id="http:team")
    assert sneaky.is_error and "group_id: Extra inputs are not permitted" in sneaky.content


def test_only_a_main_group_writes_global_memory(tmp_path: Path) -> None:
    refused = call(context(tmp_path), "save_memory", category="topics", topic="office", content="Closed Friday",
                   scope="global")
    assert refused.is_error and "only the main group can write global memory" in refused.content
    refused = call(context(tmp_path), "curate_memory", content="# all groups", scope="global")
    assert refused.is_error
    saved = call(context(tmp_path, "http:boss", is_main=True), "save_memory", category="topics", topic="office",
                 content="Closed Friday", scope="global")
    assert not saved.is_error and saved.content.endswith("(saved in global/topics/office.md)")
    found = call(context(tmp_path), "search_memory", query="office closed")
    assert "Closed Friday (global/topics/office.md" in found.content


def test_list_memories(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert call(ctx, "list_memories").content == "No memories saved yet."
    call(ctx, "save_memory", category="people", topic="Dan", content="Dan plays chess")
    call(ctx, "save_memory", category="topics", topic="chess club", content="Tuesdays at 7")
    call(ctx, "save_memory", category="topics", topic="chess club", content="Moved to Wednesdays")
    listing = call(ctx, "list_memories").content
    assert re.fullmatch(
        r"Memory files:\n- people/dan\.md \(Dan\): 1 entry, latest \S+\n"
        r"- topics/chess-club\.md \(chess club\): 2 entries, latest \S+", listing), listing
    assert call(ctx, "list_memories", category="daily").content == "No daily memories saved yet."


def test_curate_memory_rewrites_memory_md_for_the_next_prompt(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    result = call(ctx, "curate_memory", content="- Dan plays chess on Wednesdays")
    assert result.content == "MEMORY.md is rewritten (31 characters); the previous version is kept."
    assert "- Dan plays chess on Wednesdays" in memory_prompt(ctx.workspace, ctx.group_id)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [({"category": "secrets", "topic": "x", "content": "y"}, "category: Input should be 'topics', 'people' or 'daily'"),
     ({"category": "topics", "topic": "x", "content": ""}, "content: String should have at least 1 character"),
     ({"category": "topics", "topic": "x", "content": "   "}, "nothing to remember")],
)
def test_bad_arguments_come_back_as_errors_the_model_can_read(
    tmp_path: Path, arguments: dict[str, str], complaint: str
) -> None:
    result = call(context(tmp_path), "save_memory", **arguments)
    assert result.is_error and complaint in result.content

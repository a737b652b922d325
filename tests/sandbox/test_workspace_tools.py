"""read_file, write_file, list_files and run_code as the agent calls them (through the registry)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from claw.agent import ChatLine, ToolCall, TurnInput
from claw.agent.loop import run_agent
from claw.agent.offline import OfflineProvider
from claw.agent.tools import ToolContext, ToolResult, default_registry
from claw.config import Settings
from claw.sandbox.layout import ensure_group_layout
from claw.workspace import scratch_dir


@pytest.fixture
def ctx(settings: Settings) -> ToolContext:
    return ToolContext("http:team", settings.workspace, settings)


@pytest.fixture
def root(ctx: ToolContext) -> Path:
    ensure_group_layout(ctx.workspace, ctx.group_id, None)
    return scratch_dir(ctx.workspace, ctx.group_id)


def call(ctx: ToolContext, name: str, **arguments: object) -> ToolResult:
    return default_registry().call(ToolCall("toolu_1", name, dict(arguments)), ctx)


def test_write_then_read_and_list(ctx: ToolContext, root: Path) -> None:
    assert call(ctx, "write_file", path="notes/todo.txt", content="milk\n").content == \
        "wrote 5 bytes to notes/todo.txt"
    assert call(ctx, "write_file", path="notes/todo.txt", content="eggs\n", mode="append").content == \
        "appended 5 bytes to notes/todo.txt"
    assert call(ctx, "read_file", path="notes/todo.txt").content == "milk\neggs\n"
    assert call(ctx, "read_file", path="/workspace/notes/todo.txt").content == "milk\neggs\n"
    assert call(ctx, "list_files", recursive=True).content == "notes/\nnotes/todo.txt (10 bytes)"
    assert (root / "notes" / "todo.txt").read_text() == "milk\neggs\n"


@pytest.mark.parametrize(
    ("path", "complaint"),
    [("../http%3Aother/secret.txt", "contains '..'"),
     ("notes/../../x", "contains '..'"),
     ("/etc/passwd", "is an absolute path"),
     ("/workspace/../etc/passwd", "contains '..'")],
)
def test_paths_that_leave_the_workspace_are_refused(ctx: ToolContext, root: Path, path: str, complaint: str) -> None:
    for name, extra in (("read_file", {}), ("write_file", {"content": "x"}), ("list_files", {})):
        result = call(ctx, name, path=path, **extra)
        assert result.is_error and complaint in result.content, (name, result.content)


def test_symlinks_are_never_followed_out_or_in(ctx: ToolContext, root: Path) -> None:
    # Given links planted in the workspace (as sandboxed code can)
    (root / "etc").symlink_to("/etc")
    (root / "passwd").symlink_to("/etc/passwd")
    (root / "real.txt").write_text("inside")
    (root / "alias.txt").symlink_to("real.txt")
    # Then the tools refuse them all, for reading and writing alike: the host follows no link
    for path in ("etc/passwd", "passwd", "alias.txt"):
        read = call(ctx, "read_file", path=path)
        assert read.is_error and "symlink" in read.content, read.content
    write = call(ctx, "write_file", path="passwd", content="root::0:0::/:/bin/sh")
    assert write.is_error and "symlink" in write.content
    assert call(ctx, "write_file", path="etc/passwd", content="x").is_error
    assert call(ctx, "list_files", path="etc").is_error
    # And list_files shows them for what they are
    assert "alias.txt -> real.txt (symlink)" in call(ctx, "list_files").content
    assert Path("/etc/passwd").read_text().startswith("root:")


def test_a_planted_fifo_is_refused_instead_of_waited_on(ctx: ToolContext, root: Path) -> None:
    os.mkfifo(root / "pipe")
    for result in (call(ctx, "read_file", path="pipe"), call(ctx, "write_file", path="pipe", content="x")):
        assert result.is_error
        assert "pipe is a FIFO, not a file" in result.content, result.content


def test_size_limits_on_reads_and_writes(ctx: ToolContext, root: Path) -> None:
    (root / "big.log").write_bytes(b"x" * (70 * 1024))
    (root / "blob.bin").write_bytes(b"\x00\x01")
    assert "read_file reads at most 65,536" in call(ctx, "read_file", path="big.log").content
    assert "binary file" in call(ctx, "read_file", path="blob.bin").content
    refused = call(ctx, "write_file", path="huge.txt", content="y" * (300 * 1024))
    assert refused.is_error and "the limit is 262,144" in refused.content
    assert not (root / "huge.txt").exists()


def test_run_code_tool_reports_exit_code_and_output(ctx: ToolContext, root: Path, default_db: str) -> None:
    (root / "data.txt").write_text("1\n2\n3\n")
    result = call(ctx, "run_code", language="python",
                  code="print(sum(int(x) for x in open('data.txt')))")
    assert not result.is_error
    assert result.content.startswith("exit code 0 (") and result.content.endswith("\n6\n")


def test_run_code_tool_explains_a_timeout(ctx: ToolContext, default_db: str) -> None:
    from claw.db import Group, write_session

    with write_session() as session:
        session.get_one(Group, "http:team").settings = {"sandbox": {"wall_seconds": 1}}
    result = call(ctx, "run_code", language="bash", code="echo waiting; sleep 10")
    assert result.content.startswith("killed after 1.")
    assert "the time limit is 1 s\nwaiting" in result.content


def test_run_code_tool_turns_sandbox_problems_into_clear_errors(tmp_path: Path, default_db: str) -> None:
    settings = Settings(workspace=tmp_path, home=tmp_path / "home", sandbox="bwrap",
                        sandbox_python=str(tmp_path / "nothing-here"))
    result = call(ToolContext("http:team", tmp_path, settings), "run_code", language="python", code="1")
    assert result.is_error and "no Python interpreter at" in result.content
    too_long = call(ToolContext("http:team", tmp_path, settings), "run_code", language="python",
                    code="#" * 100_001)
    assert too_long.is_error and "over 100,000 bytes" in too_long.content


def test_the_offline_model_runs_python_through_the_sandbox(ctx: ToolContext, default_db: str) -> None:
    now = datetime.now(timezone.utc)
    turn = TurnInput("http:team", "You are claw.", [],
                     [ChatLine("user", "alice", "run python: import claw_ipc; print(6 * 7); "
                                                "claw_ipc.send_message('side note')", now)])
    reply = run_agent(OfflineProvider(), turn, default_registry(), ctx,
                      max_iterations=3, history_token_budget=1000)
    assert reply.text.startswith("exit code 0 (") and reply.text.endswith("host requests: 1 done, 0 refused\n42")

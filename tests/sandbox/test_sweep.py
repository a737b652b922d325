"""claw.sandbox.sweep: what sandboxed code planted is removed, and logged without forging lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claw.sandbox.sweep import remove_escapes


def test_planted_names_are_logged_escaped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a FIFO and a symlink out of the workspace, named to forge a log line and recolour a terminal
    group = tmp_path / "group"
    group.mkdir()
    os.mkfifo(group / "x\nsandbox_planted_removed path=.ssh kind=forged")
    (group / "\x1b[31mred").symlink_to("/etc")
    # When the sweep removes them
    with caplog.at_level("WARNING", logger="claw.sandbox.sweep"):
        assert remove_escapes(group) == 2
    # Then each removal is one log line, its name escaped
    lines = sorted(record.getMessage() for record in caplog.records)
    assert lines == [
        "sandbox_planted_removed path='\\x1b[31mred' kind=symlink-out",
        "sandbox_planted_removed path='x\\nsandbox_planted_removed path=.ssh kind=forged' kind=fifo",
    ]
    assert list(group.iterdir()) == []


def test_thousands_of_planted_links_cost_the_log_a_few_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given 3,000 links out of the workspace (code can plant them again at every run)
    group = tmp_path / "group"
    group.mkdir()
    for n in range(3000):
        (group / f"l{n}").symlink_to("/etc")
    # When the sweep removes them
    with caplog.at_level("INFO", logger="claw.sandbox.sweep"):
        assert remove_escapes(group, max_seconds=30) == 3000
    # Then the log gets a few lines and the count, not a line for each
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) < 30, len(lines)
    assert any("removed=3000" in line for line in lines), lines[-3:]

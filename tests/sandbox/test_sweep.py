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

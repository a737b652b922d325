"""State does not depend on the current folder: the default home is the user's data folder,
and read-only commands leave nothing behind, where they run or in the home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Result, invoke
from tests.support.databases import _clear_caches


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A user with no CLAW_* settings and no stack, in an empty folder; yields the data folder."""
    for name in list(os.environ):
        if name.startswith("CLAW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    _clear_caches()
    yield tmp_path / "data"
    _clear_caches()


@pytest.mark.parametrize("args", [
    ["doctor"], ["memory", "list", "main"], ["memory", "search", "http:team", "tea"],
    ["schedules", "list"], ["groups", "list"], ["outbox"],
])
def test_a_read_only_command_creates_no_folder(nowhere: Path, args: list[str]) -> None:
    result: Result = invoke(*args)

    assert "Traceback" not in result.out + result.err
    assert list(Path.cwd().iterdir()) == []
    assert not nowhere.exists(), list(nowhere.rglob("*"))


def test_doctor_without_a_stack_says_what_is_missing(nowhere: Path) -> None:
    result = invoke("doctor")

    assert result.code == 1
    home = nowhere / "claw"
    assert f"FAIL database   no database at {home / 'claw.db'}; run `claw up` or `claw migrate`" in result.out
    assert f"FAIL workspace  {home / 'workspace'} does not exist; `claw up` makes it" in result.out


def test_doctor_in_a_home_without_a_stack_checks_no_other_stacks_redis(nowhere: Path) -> None:
    # Given no stack in this home (no run.json): whatever Redis answers on the default port,
    # and the workers beside it, belong to some other home's stack
    result = invoke("doctor")

    home = nowhere / "claw"
    lines = result.out.splitlines()
    assert result.code == 1
    assert lines[0] == (f"no claw stack is running in {home} (no run.json): `claw up` starts one, "
                        "or set CLAW_HOME to the home of a running stack")
    for name in ("redis", "workers", "beat"):
        assert f"FAIL {name:<10} not checked: no stack is running in this home" in lines
    assert "ok   redis" not in result.out and "alive" not in result.out


def test_commands_that_need_the_stack_say_so_with_exit_3(nowhere: Path) -> None:
    result = invoke("schedules", "list")

    assert result.code == 3
    assert result.err.startswith("claw: no API token: set CLAW_API_TOKEN or start `claw up`")


def test_migrate_on_a_new_database_says_what_it_created(nowhere: Path) -> None:
    first = invoke("migrate")
    again = invoke("migrate")

    home = nowhere / "claw"
    assert first.code == 0, first.err
    assert first.out.splitlines()[:2] == [
        f"created the database sqlite:///{home / 'claw.db'}: every table, schema "
        + first.out.split("schema ")[1].split()[0],
        f"created the workspace {home / 'workspace'}",
    ]
    assert again.out.splitlines()[0].startswith(f"the database sqlite:///{home / 'claw.db'} is up to date")
    assert list(Path.cwd().iterdir()) == []

"""The `latest-stack` pointer: a command run without CLAW_HOME finds a running `--home` stack,
even after another `--home` stack, started later, has stopped (before, stopping it removed the
pointer and the first stack could no longer be found)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from claw.config import Settings, default_home, get_settings
from claw.runtime.runfile import find_stack, remove_runfile, write_runfile


@pytest.fixture(autouse=True)
def own_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("CLAW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def stack(home: Path) -> Settings:
    home.mkdir(parents=True)
    return Settings(home=home)


def test_stopping_the_latest_home_stack_leaves_the_earlier_one_found(tmp_path: Path) -> None:
    first, second = stack(tmp_path / "a"), stack(tmp_path / "b")
    write_runfile(first)
    write_runfile(second)
    assert find_stack(default_home()) == second.home.resolve()

    remove_runfile(second)

    assert find_stack(default_home()) == first.home.resolve()
    remove_runfile(first)
    assert find_stack(default_home()) is None
    assert not (default_home() / "latest-stack").exists()


def test_a_stale_pointer_to_a_dead_stack_is_passed_over(tmp_path: Path) -> None:
    live, dead = stack(tmp_path / "live"), stack(tmp_path / "dead")
    write_runfile(live)
    write_runfile(dead)
    # the later stack was killed: its run.json names a process that no longer exists
    (dead.home / "run.json").write_text('{"pid": 999999999}')

    assert find_stack(default_home()) == live.home.resolve()


def test_an_old_single_line_pointer_is_still_read(tmp_path: Path) -> None:
    live = stack(tmp_path / "live")
    write_runfile(live)
    (default_home() / "latest-stack").write_text(f"{live.home.resolve()}\n")

    assert find_stack(default_home()) == live.home.resolve()


def test_a_dead_stack_whose_pid_was_reused_is_not_running(tmp_path: Path) -> None:
    import subprocess
    import time

    live, dead = stack(tmp_path / "live"), stack(tmp_path / "dead")
    write_runfile(live)
    write_runfile(dead)
    # the later stack died, and its pid now belongs to a process started after its run.json
    time.sleep(1.5)
    other = subprocess.Popen(["sleep", "30"])
    try:
        (dead.home / "run.json").write_text(f'{{"pid": {other.pid}}}')
        old = time.time() - 60
        os.utime(dead.home / "run.json", (old, old))

        assert find_stack(default_home()) == live.home.resolve()
    finally:
        other.kill()
        other.wait()

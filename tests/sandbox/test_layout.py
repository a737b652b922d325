"""Moving a group folder from before the scratch split to the current layout (claw/sandbox/layout.py).

Back then the group's folder was the sandbox's /workspace: everything in it may have been
planted. The migration must never follow any of it, keep every byte, and leave the host's
files plain and host-owned.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import claw
from claw.config import Settings
from claw.memory import memory_prompt
from claw.personality import load_personality
from claw.sandbox.layout import MAX_DEPTH, ensure_group_layout, migrate_workspace
from claw.sandbox.sweep import remove_escapes
from claw.workspace import group_dir, scratch_dir

# safe_fs and the layout work through directory descriptors only: a path taken from the cwd
# by mistake must fail the test, not touch the folder pytest runs in
pytestmark = pytest.mark.usefixtures("empty_cwd")

GROUP = "http:team"


@pytest.fixture
def old_group(tmp_path: Path) -> Path:
    """An old-layout folder, as the sandbox's code and claw's tools left it."""
    settings_workspace = tmp_path / "workspace"
    folder = group_dir(settings_workspace, GROUP)
    (folder / "memory" / "topics").mkdir(parents=True)
    (folder / "CLAUDE.md").write_text("Be kind.\n")
    (folder / ".personality").mkdir()
    (folder / ".personality" / "CLAUDE.20260101T000000Z.md").write_text("Be nice.\n")
    (folder / "memory" / "MEMORY.md").write_text("- likes tea\n")
    (folder / "memory" / "topics" / "plants.md").write_text("# plants\n\nbasil\n")
    (folder / "report.csv").write_text("a,b\n")
    (folder / "files").mkdir()  # the group's own folder that happens to be called "files"
    (folder / "files" / "x.txt").write_text("mine")
    (folder / ".ipc" / "requests").mkdir(parents=True)
    (folder / ".ipc" / "requests" / "stale.json").write_text("{}")
    (folder / ".layout").write_text("2\n")  # planted by its code, to skip the migration
    (folder / ".files-migrating").symlink_to("/etc")  # and to trip it up
    return folder


def bind_socket(path: Path) -> None:
    """A Unix socket at ``path``, bound by its name from inside its folder: a socket's full path
    must fit in 108 bytes, and pytest's folders under xdist (popen-gw0/…) can be longer."""
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        socket.socket(socket.AF_UNIX).bind(path.name)
    finally:
        os.chdir(here)


def test_plain_files_stay_and_the_rest_moves_to_the_scratch_folder(old_group: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    ensure_group_layout(workspace, GROUP, None)
    scratch = scratch_dir(workspace, GROUP)
    assert sorted(p.name for p in old_group.iterdir()) == [".personality", "CLAUDE.md", "files", "memory"]
    assert sorted(p.name for p in scratch.iterdir()) == [".files-migrating.planted", ".layout", "files", "report.csv"]
    assert (scratch / "files" / "x.txt").read_text() == "mine"  # nothing lost
    assert load_personality(workspace, GROUP) == "Be kind.\n"
    assert "- likes tea" in memory_prompt(workspace, GROUP)


def test_everything_odd_under_host_names_is_quarantined_never_followed(old_group: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    secret = tmp_path / "secret.md"
    secret.write_text("SECRET")
    (old_group / "CLAUDE.md").unlink()
    (old_group / "CLAUDE.md").symlink_to(secret)
    (old_group / "memory" / "topics" / "leak.md").symlink_to(secret)
    (old_group / "memory" / "people").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(old_group / ".personality" / "pipe.md")
    bind_socket(old_group / "memory" / "sock.md")
    os.link(old_group / "report.csv", old_group / "memory" / "topics" / "hard.md")  # shared with the scratch
    if os.geteuid() == 0:
        os.mknod(old_group / "memory" / "null.md", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    deep = old_group / "memory" / "daily"
    for _ in range(MAX_DEPTH + 2):
        deep = deep / "d"
    deep.mkdir(parents=True)

    migrate_workspace(Settings(workspace=workspace, home=tmp_path / "home", sandbox="bwrap"))

    quarantine = scratch_dir(workspace, GROUP) / "quarantine"
    assert (quarantine / "CLAUDE.md").is_symlink()
    assert (quarantine / "memory" / "topics" / "leak.md").is_symlink()
    assert (quarantine / "memory" / "people").is_symlink()
    assert (quarantine / ".personality" / "pipe.md").is_fifo()
    assert (quarantine / "memory" / "sock.md").is_socket()
    assert (quarantine / "memory" / "topics" / "hard.md").read_text() == "a,b\n"
    if os.geteuid() == 0:
        assert (quarantine / "memory" / "null.md").is_char_device()
    assert (quarantine / "memory" / "daily").exists()  # the too-deep part, whole
    assert secret.read_text() == "SECRET" and sorted(p.name for p in tmp_path.iterdir()) == ["secret.md", "workspace"]
    # What is left under the host's names is plain: regular files and real folders only
    for path in [old_group / "CLAUDE.md", *(old_group / "memory").rglob("*"), *(old_group / ".personality").rglob("*")]:
        mode = path.lstat().st_mode if path.exists() or path.is_symlink() else 0
        assert stat.S_ISREG(mode) or stat.S_ISDIR(mode) or mode == 0, path
    assert "SECRET" not in load_personality(workspace, GROUP)


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership changes need root")
def test_as_root_the_host_takes_its_files_back_and_the_sandbox_gets_the_scratch(
    old_group: Path, tmp_path: Path
) -> None:
    for path in [old_group, *old_group.rglob("*")]:
        os.chown(path, 65534, 65534, follow_symlinks=False)
    migrate_workspace(Settings(workspace=tmp_path / "workspace", home=tmp_path / "home", sandbox="bwrap"))
    for path in [old_group, old_group / "CLAUDE.md", *(old_group / "memory").rglob("*")]:
        info = path.lstat()
        assert info.st_uid == 0 and not info.st_mode & 0o022, path  # only claw writes them
    assert scratch_dir(tmp_path / "workspace", GROUP).stat().st_uid == 65534


def test_migration_is_idempotent_and_claw_migrate_runs_it(old_group: Path, tmp_path: Path) -> None:
    # the command runs the claw this test imported (under `make mutate`, the mutated copy)
    env = {**os.environ, "CLAW_WORKSPACE": str(tmp_path / "workspace"), "CLAW_HOME": str(tmp_path / "home"),
           "CLAW_DATABASE_URL": f"sqlite:///{tmp_path / 'claw.db'}",
           "PYTHONPATH": str(Path(claw.__file__).resolve().parents[1])}
    first = subprocess.run([sys.executable, "-m", "claw.cli", "migrate"], env=env, capture_output=True, text=True)
    assert "group folders are up to date (1 migrated)" in first.stdout, first.stdout + first.stderr
    before = sorted(str(p.relative_to(old_group)) for p in old_group.rglob("*"))
    second = subprocess.run([sys.executable, "-m", "claw.cli", "migrate"], env=env, capture_output=True, text=True)
    assert "group folders are up to date (0 migrated)" in second.stdout
    assert sorted(str(p.relative_to(old_group)) for p in old_group.rglob("*")) == before


def test_the_after_run_tidy_up_is_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a scratch folder of 30,000 files with a FIFO and an outward link at its top
    scratch = tmp_path / "files"
    for n in range(30):
        folder = scratch / f"d{n}"
        folder.mkdir(parents=True)
        for m in range(1000):
            (folder / f"f{m}").touch()
    os.mkfifo(scratch / "pipe")
    (scratch / "out").symlink_to("/etc/passwd")
    # When it is tidied after a run
    started = time.monotonic()
    removed = remove_escapes(scratch)
    # Then it stops at its budget (a few thousand entries), having tidied what it saw first
    assert removed == 2 and not (scratch / "pipe").exists()
    assert "sandbox_tidy_stopped entries=5000" in caplog.text
    assert time.monotonic() - started < 2


def test_a_scratch_folder_replaced_by_a_link_is_never_bound(settings: Settings, tmp_path: Path) -> None:
    from claw.sandbox import SandboxUnavailable
    from tests.support.sandbox import run

    # Given the scratch folder became a link to a host folder (by hand: nothing sandboxed can)
    ensure_group_layout(settings.workspace, GROUP, None)
    scratch = scratch_dir(settings.workspace, GROUP)
    os.rmdir(scratch)
    (tmp_path / "host").mkdir()
    scratch.symlink_to(tmp_path / "host")
    # Then no code runs with that folder as its /workspace
    with pytest.raises(SandboxUnavailable, match="is not a folder"):
        run(settings, "open('/workspace/x', 'w').write('x')")
    assert list((tmp_path / "host").iterdir()) == []

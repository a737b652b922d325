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
    env = {**os.environ, "CLAW_WORKSPACE": str(tmp_path / "workspace"), "CLAW_HOME": str(tmp_path / "home"),
           "CLAW_DATABASE_URL": f"sqlite:///{tmp_path / 'claw.db'}"}
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


def test_claw_migrate_moves_each_old_group_folder_once_and_leaves_anything_else_alone(
    old_group: Path, tmp_path: Path
) -> None:
    # Given two old group folders, a stray file, and a link to a folder elsewhere in groups/
    workspace = tmp_path / "workspace"
    groups = workspace / "groups"
    other = group_dir(workspace, "http:other")
    other.mkdir()
    (other / "notes.txt").write_text("theirs")
    (groups / "stray.txt").write_text("not a group")
    (tmp_path / "elsewhere").mkdir()
    (groups / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    settings = Settings(workspace=workspace, home=tmp_path / "home", sandbox="bwrap")
    # When the workspace is migrated, twice
    first, second = migrate_workspace(settings), migrate_workspace(settings)
    # Then each group folder was migrated once, and nothing else was touched
    assert (first, second) == (2, 0)
    assert (scratch_dir(workspace, "http:other") / "notes.txt").read_text() == "theirs"
    assert sorted(p.name for p in groups.iterdir()) == sorted(
        [".layout", old_group.name, other.name, "linked", "stray.txt"])
    assert (groups / "stray.txt").read_text() == "not a group" and list((tmp_path / "elsewhere").iterdir()) == []
    # And a workspace without groups has nothing to migrate
    assert migrate_workspace(Settings(workspace=tmp_path / "new", home=tmp_path / "home", sandbox="bwrap")) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership changes need root")
def test_the_scratch_folder_goes_to_the_sandbox_user_only_where_code_runs_as_one(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"

    def old_folder(group_id: str) -> None:
        folder = group_dir(workspace, group_id)
        folder.mkdir(parents=True)
        (folder / "report.csv").write_text("a,b\n")

    # The subprocess sandbox runs code as claw itself: its scratch folder stays claw's
    old_folder("http:plain")
    migrate_workspace(Settings(workspace=workspace, home=tmp_path / "home", sandbox="subprocess"))
    # A sandbox configured to run as root is refused: the folder is not handed to root's "sandbox"
    old_folder("http:refused")
    migrate_workspace(Settings(workspace=workspace, home=tmp_path / "home", sandbox="bwrap",
                               sandbox_uid=0, sandbox_gid=0))
    # A group's first use hands its scratch folder to the sandbox's user
    old_folder("http:used")
    ensure_group_layout(workspace, "http:used", (65534, 65534))
    owners = {group_id: scratch_dir(workspace, group_id).stat().st_uid
              for group_id in ("http:plain", "http:refused", "http:used")}
    assert owners == {"http:plain": 0, "http:refused": 0, "http:used": 65534}
    assert (scratch_dir(workspace, "http:refused") / "report.csv").read_text() == "a,b\n"


def test_host_folders_are_kept_to_max_depth_and_anything_deeper_is_quarantined_whole(tmp_path: Path) -> None:
    # Given memory/ with folders nested exactly MAX_DEPTH deep, and one more level below
    workspace = tmp_path / "workspace"
    deepest = group_dir(workspace, GROUP) / "memory" / Path(*["d"] * MAX_DEPTH)
    (deepest / "too-deep").mkdir(parents=True)
    (deepest / "kept.md").write_text("kept")
    (deepest / "too-deep" / "note.md").write_text("moved")
    # When the folder is migrated
    ensure_group_layout(workspace, GROUP, None)
    # Then everything down to MAX_DEPTH stays, and the level below moves to quarantine whole
    assert (deepest / "kept.md").read_text() == "kept" and not (deepest / "too-deep").exists()
    quarantine = scratch_dir(workspace, GROUP) / "quarantine"
    assert (quarantine / "memory" / Path(*["d"] * MAX_DEPTH) / "too-deep" / "note.md").read_text() == "moved"


def test_a_name_already_in_the_scratch_folder_is_kept_beside_never_replaced(tmp_path: Path) -> None:
    # Given an interrupted migration (its folder holds a dangling link named like a file still
    # to move), a folder of the group's own called "quarantine", and a planted CLAUDE.md link
    workspace = tmp_path / "workspace"
    folder = group_dir(workspace, GROUP)
    (folder / ".files-migrating").mkdir(parents=True)
    (folder / ".files-migrating" / "report.csv").symlink_to(tmp_path / "gone")
    (folder / "report.csv").write_text("a,b\n")
    (folder / "quarantine").mkdir()
    (folder / "quarantine" / "own.txt").write_text("mine")
    (folder / "CLAUDE.md").symlink_to("/etc/passwd")
    # When it is migrated
    ensure_group_layout(workspace, GROUP, None)
    # Then every entry is there: a later one under the next free name
    scratch = scratch_dir(workspace, GROUP)
    assert (scratch / "report.csv").is_symlink() and (scratch / "report.csv.2").read_text() == "a,b\n"
    assert (scratch / "quarantine" / "CLAUDE.md").is_symlink()
    assert (scratch / "quarantine.2" / "own.txt").read_text() == "mine"


def test_a_host_folder_that_is_a_link_is_quarantined_and_a_save_under_way_stays(tmp_path: Path) -> None:
    # Given .personality planted as a link to a folder elsewhere, and CLAUDE.md being saved
    workspace = tmp_path / "workspace"
    folder = group_dir(workspace, GROUP)
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "CLAUDE.md").write_text("SECRET")
    (folder / ".personality").symlink_to(elsewhere, target_is_directory=True)
    (folder / ".CLAUDE.md.1234.tmp").write_text("Be kind.\n")  # a save's temporary file
    # When it is migrated
    ensure_group_layout(workspace, GROUP, None)
    # Then the link is quarantined, never followed (the folder it points to is untouched)
    assert (scratch_dir(workspace, GROUP) / "quarantine" / ".personality").is_symlink()
    assert not (folder / ".personality").exists() and stat.S_IMODE(elsewhere.stat().st_mode) == 0o700
    # And the save under way is left where its rename expects it
    assert (folder / ".CLAUDE.md.1234.tmp").read_text() == "Be kind.\n"
    assert not (scratch_dir(workspace, GROUP) / ".CLAUDE.md.1234.tmp").exists()


def test_the_scratch_folder_is_never_writable_by_others_whatever_the_umask(old_group: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    fresh = group_dir(workspace, "http:fresh")
    fresh.mkdir()
    previous = os.umask(0)
    try:
        ensure_group_layout(workspace, GROUP, None)  # (its .files-migrating was planted)
        ensure_group_layout(workspace, "http:fresh", None)
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(scratch_dir(workspace, g).stat().st_mode) for g in (GROUP, "http:fresh")] == [0o755] * 2


def test_a_marker_that_is_a_link_does_not_count_as_migrated(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    folder = group_dir(workspace, GROUP)
    folder.mkdir(parents=True)
    (folder / "report.csv").write_text("a,b\n")
    (tmp_path / "fake").write_text("2\n")
    (folder.parent / ".layout").mkdir()
    (folder.parent / ".layout" / folder.name).symlink_to(tmp_path / "fake")
    ensure_group_layout(workspace, GROUP, None)
    assert (scratch_dir(workspace, GROUP) / "report.csv").read_text() == "a,b\n"
    assert not (folder.parent / ".layout" / folder.name).is_symlink()


def test_the_operator_reads_what_moved_and_what_was_quarantined(
    old_group: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an old folder with 51 links in memory/, one with a very long name
    workspace = tmp_path / "workspace"
    links = old_group / "memory" / "links"
    links.mkdir()
    (links / ("a" * 230)).symlink_to("/etc/passwd")
    for n in range(50):
        (links / f"l{n:02}").symlink_to("/etc/passwd")
    other = group_dir(workspace, "http:other")
    other.mkdir()
    (other / "notes.txt").write_text("x")
    # When both folders are migrated
    ensure_group_layout(workspace, GROUP, None)
    ensure_group_layout(workspace, "http:other", None)
    # Then one line says what moved and how much was quarantined, then up to 50 paths, cut
    lines = [r.getMessage() for r in caplog.records if r.name == "claw.sandbox.layout"]
    assert lines[0] == f"group_layout_migrated group_dir={old_group.name} moved=4 quarantined=51"
    paths = [f"quarantine/memory/links/{'a' * 230}"] + [f"quarantine/memory/links/l{n:02}" for n in range(49)]
    assert lines[1:51] == [f"group_layout_quarantined group_dir={old_group.name} path={p[:200]!r}" for p in paths]
    # And a folder with nothing to quarantine still says what moved
    assert lines[51:] == [f"group_layout_migrated group_dir={other.name} moved=1 quarantined=0"]


def test_the_hosts_files_are_left_0644_and_its_folders_0755(old_group: Path, tmp_path: Path) -> None:
    for path in [old_group / "CLAUDE.md", old_group / "memory", *(old_group / "memory").rglob("*")]:
        path.chmod(0o777)
    ensure_group_layout(tmp_path / "workspace", GROUP, None)
    modes = {str(path.relative_to(old_group)): stat.S_IMODE(path.stat().st_mode)
             for path in [old_group / "CLAUDE.md", old_group / "memory", *(old_group / "memory").rglob("*")]}
    assert modes == {"CLAUDE.md": 0o644, "memory": 0o755, "memory/MEMORY.md": 0o644, "memory/topics": 0o755,
                     "memory/topics/plants.md": 0o644}

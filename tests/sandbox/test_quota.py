"""A group's disk and file-count quota (claw/sandbox/quota.py), tried as an attacker would.

As root on a machine with loop devices the group's directory is a fixed-size filesystem, so
writes stop at the limit inside the sandbox; elsewhere the measured fallback is tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from claw.config import Settings
from claw.sandbox import quota, quota_image
from claw.workspace import group_dir, scratch_dir
from tests.support.sandbox import run

FILL = textwrap.dedent("""
    import os
    os.makedirs("junk", exist_ok=True)
    written = 0
    try:
        for n in range(64):
            with open(f"junk/{n}", "wb") as f:
                f.write(b"x" * (1 << 20))
            written += 1
        print("wrote all", written, "MB")
    except OSError as exc:
        print("stopped after", written, "MB:", exc.strerror)
""")

MANY = textwrap.dedent("""
    import os
    os.makedirs("many", exist_ok=True)
    made = 0
    try:
        for n in range(5000):
            open(f"many/{n}", "w").close()
            made += 1
        print("made all", made)
    except OSError as exc:
        print("stopped after", made, "files:", exc.strerror)
""")


@pytest.fixture
def loop_quota(settings: Settings) -> Settings:
    kind, why = quota.mechanism(settings)
    if kind != "loop":
        message = f"no loop-image quota here: {why}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes") and os.geteuid() == 0:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return settings


def test_writing_past_the_disk_quota_fails_inside_and_deleting_frees_room(loop_quota: Settings) -> None:
    # Given a group allowed 24 MB, whose code writes 64 MB in 1 MB files
    full = run(loop_quota, FILL, disk_mb=24, file_size_mb=8)
    # Then the writes stop near the limit, inside the sandbox
    assert "stopped after" in full.output and "No space left on device" in full.output, full.output
    assert int(full.output.split("stopped after ")[1].split()[0]) <= 24
    assert full.disk is not None and full.disk.used_bytes <= 24 << 20
    # And the host (root) can still save the group's memory: it lives beside the scratch folder, not under its quota
    (group_dir(loop_quota.workspace, "http:team") / "memory.md").write_bytes(b"m" * (100 << 10))
    # And after deleting, a later run writes again
    run(loop_quota, "import shutil; shutil.rmtree('junk')", disk_mb=24)
    again = run(loop_quota, "open('small', 'wb').write(b'y' * (4 << 20)); print('ok')", disk_mb=24)
    assert again.output == "ok\n", again.output


def test_creating_past_the_file_count_quota_fails_inside(loop_quota: Settings) -> None:
    # Given a group allowed 300 files, whose code creates 5000 empty ones
    many = run(loop_quota, MANY, files=300, disk_mb=24)
    # Then creation stops at about the limit, and the group's later turns sweep few files
    assert "stopped after" in many.output and "No space left on device" in many.output, many.output
    made = int(many.output.split("stopped after ")[1].split()[0])
    assert 270 <= made <= 315  # about: ext4 rounds its inode count to whole table blocks
    run(loop_quota, "import shutil; shutil.rmtree('many')", files=300, disk_mb=24)
    assert run(loop_quota, "open('one', 'w').write('1'); print('ok')", files=300).output == "ok\n"


def test_a_raised_disk_quota_grows_the_groups_filesystem(loop_quota: Settings) -> None:
    # Given a group that filled its 16 MB
    assert "No space left" in run(loop_quota, FILL, disk_mb=16, files=1000, file_size_mb=8).output
    # When its quota is raised to 48 MB
    grown = run(loop_quota, FILL.replace("junk", "more"), disk_mb=48, files=1000, file_size_mb=8)
    # Then its code can write about 32 MB more
    assert grown.disk is not None and 46 << 20 <= grown.disk.limit_bytes <= 50 << 20
    assert "stopped after" in grown.output and int(grown.output.split("stopped after ")[1].split()[0]) >= 28


def test_files_already_there_are_kept_when_the_quota_starts(loop_quota: Settings) -> None:
    # Given a group that has files from before quotas (and before the scratch folder)
    directory = group_dir(loop_quota.workspace, "http:team")
    (directory / "data").mkdir(parents=True)
    (directory / "data" / "notes.md").write_text("keep me")
    (directory / "CLAUDE.md").write_text("be brief")
    # When its first run puts the scratch folder under its quota
    seen = run(loop_quota, "print(open('data/notes.md').read(), open('/group/CLAUDE.md').read())")
    # Then the files are still there: its own files inside the group's own filesystem, the
    # personality host-owned beside it (not under the quota)
    assert seen.output == "keep me be brief\n", seen.output
    assert os.path.ismount(scratch_dir(loop_quota.workspace, "http:team"))
    assert not os.path.ismount(directory)
    assert (directory / "CLAUDE.md").read_text() == "be brief"


def test_an_unmounted_directory_takes_no_writes_and_is_mounted_again(loop_quota: Settings) -> None:
    # Given a group under its quota whose image is unmounted (as after a reboot)
    run(loop_quota, "open('kept.txt', 'w').write('still here')")
    directory = scratch_dir(loop_quota.workspace, "http:team")
    subprocess.run(["umount", str(directory)], check=True)
    quota_image.set_immutable(directory, True)
    # Then nothing, not even root, writes to the host disk underneath
    with pytest.raises(PermissionError):
        (directory / "lost.txt").write_text("would be hidden by the mount")
    # And the start of a turn mounts it again, with the group's files
    quota.remount(loop_quota, "http:team")
    assert (directory / "kept.txt").read_text() == "still here"


def test_the_measured_fallback_refuses_runs_over_the_quota(settings: Settings) -> None:
    measured = settings.model_copy(update={"sandbox_quota": "measure"})
    # Given a group (without a quota image) that writes past its quota
    run(measured, "open('big', 'wb').write(b'x' * (10 << 20))", disk_mb=8)
    # Then its next run is refused with the usage and how to clear it
    with pytest.raises(quota.QuotaExceeded, match=r"over its quota: 10\.[0-9] of 8 MB"):
        run(measured, "print('hi')", disk_mb=8)
    assert run(measured, "print('hi')", disk_mb=16).output == "hi\n"


def claw(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "CLAW_HOME": str(tmp_path / "home"),
           "CLAW_WORKSPACE": str(tmp_path / "workspace"), "CLAW_SANDBOX": "bwrap"}
    return subprocess.run([sys.executable, "-m", "claw.cli", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_claw_sandbox_limits_shows_the_groups_usage(bwrap_works: None, tmp_path: Path) -> None:
    from claw.db import write_session
    from claw.db.migrate import upgrade
    from claw.pipeline.inbox import ensure_group

    (tmp_path / "home").mkdir()
    upgrade(f"sqlite:///{tmp_path / 'home' / 'claw.db'}")
    with write_session(f"sqlite:///{tmp_path / 'home' / 'claw.db'}") as session:
        ensure_group(session, "http", "team")
    # Given a group with a 32 MB quota whose code stored 5 MB in 3 files
    assert claw(tmp_path, "sandbox", "limits", "http:team", "--set", "disk_mb=32").returncode == 0
    ran = claw(tmp_path, "sandbox", "run", "--group", "http:team",
               "for n in range(3): open(f'f{n}', 'wb').write(b'x' * ((5 << 20) // 3))")
    assert ran.returncode == 0, ran.stderr
    # When the operator looks at the group's limits
    shown = claw(tmp_path, "sandbox", "limits", "http:team")
    assert shown.returncode == 0, shown.stderr
    usage = json.loads(shown.stdout)["usage"]
    # Then the usage is there beside the limits
    assert 4.5 <= usage["disk_mb_used"] <= 6, usage
    assert usage["files"] >= 3 and usage["files_limit"] >= 90_000
    assert 30 <= usage["disk_mb_limit"] <= 34
    assert usage["mechanism"] in ("loop", "measure")

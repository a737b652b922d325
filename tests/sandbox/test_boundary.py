"""The boundary between sandboxed code and host code, attacked as the issue's attacker did.

Code in a real bwrap sandbox plants link chains whose resolved path is longer than PATH_MAX
(which os.path.realpath misjudges while the kernel follows them), links to /proc/self/environ,
/proc/kmsg and another group's memory, FIFOs, sockets and hard links, everywhere it can write,
and tries to write where the host reads. Then the host's real tools and readers run over what
it left. Nothing may leak, hang, or be written outside; the group keeps working.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import pytest

from claw.agent import ToolCall
from claw.agent.tools import ToolContext, ToolResult, default_registry
from claw.config import Settings
from claw.memory import GroupMemory, memory_prompt
from claw.personality import load_personality, previous_versions, save_personality
from claw.sandbox.layout import ensure_group_layout
from claw.workspace import group_dir, scratch_dir
from tests.support.sandbox import run

SECRET = "env-secret-" + uuid.uuid4().hex
OTHER_SECRET = "other-groups-secret-" + uuid.uuid4().hex
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

#: sandboxed Python: chain(name, target) plants ``name`` -> ... -> ``target`` through folders
#: 18 deep of 240-character names, so the resolved path is over 4,300 characters long
CHAIN = '''
import os, socket, errno
SEG = "d" * 240
def chain(name, target):
    base = os.path.dirname(name) or "."
    deep = os.path.join(base, ".deep-" + os.path.basename(name))
    here = os.getcwd()
    os.mkdir(deep)
    os.chdir(deep)
    for _ in range(18):
        os.mkdir(SEG)
        os.chdir(SEG)
    os.symlink(target, "hop")
    os.chdir(here)
    os.symlink("/".join([SEG] * 9), os.path.join(deep, "mid"))
    os.symlink(os.path.join(os.path.basename(deep), "mid", *[SEG] * 9, "hop"), name)
def tried(what, step):
    try:
        step()
        print("TRIED", what, "ESCAPED")
    except OSError as exc:
        print("TRIED", what, errno.errorcode[exc.errno])
'''


def call(ctx: ToolContext, name: str, **arguments: object) -> ToolResult:
    return default_registry().call(ToolCall("toolu_1", name, dict(arguments)), ctx)


@pytest.fixture
def attacked(settings: Settings, default_db: str, monkeypatch: pytest.MonkeyPatch) -> ToolContext:
    """The group http:team after its code planted everything it could; http:other has a secret.

    The after-run clean-up is switched off, as if it had been defeated: no guarantee rests on it."""
    monkeypatch.setattr("claw.sandbox.runner.remove_escapes", lambda scratch: 0)
    monkeypatch.setenv("CLAW_API_TOKEN", SECRET)  # what /proc/self/environ of the host shows
    other = GroupMemory(workspace=settings.workspace, index_dir=settings.memory_index_dir, group_id="http:other")
    other.curate(OTHER_SECRET, now=NOW)
    other.save("topics", "diary", OTHER_SECRET, now=NOW)
    other_memory = group_dir(settings.workspace, "http:other") / "memory"
    save_personality(settings.workspace, "http:team", "Be kind.\n")
    own = GroupMemory(workspace=settings.workspace, index_dir=settings.memory_index_dir, group_id="http:team")
    own.curate("- the team likes tea", now=NOW)
    own.save("topics", "plants", "water the basil", now=NOW)
    settings.home.mkdir(parents=True, exist_ok=True)
    targets = {
        "CLAUDE.md": "/proc/self/environ", "MEMORY.md": str(other_memory / "MEMORY.md"),
        "memory": str(other_memory), ".personality": str(settings.home), "kmsg.txt": "/proc/kmsg",
        "environ.txt": "/proc/self/environ", "owned.txt": str(settings.home / "owned.txt"),
        "null.txt": "/dev/null",
    }
    plants = "".join(f"chain({name!r}, {target!r})\n" for name, target in targets.items())
    started = time.monotonic()
    run_ = run(settings, CHAIN + plants + f"""
os.symlink("/proc/kmsg", "direct-kmsg.txt")
os.mkfifo("fifo.txt")
socket.socket(socket.AF_UNIX).bind("sock.txt")
open("mine.txt", "w").write("my own file")
tried("hard link own file", lambda: os.link("mine.txt", "hard.txt"))
tried("hard link memory", lambda: os.link("/group/memory/MEMORY.md", "stolen.md"))
tried("write personality", lambda: open("/group/CLAUDE.md", "w").write("pwned"))
tried("unlink personality", lambda: os.unlink("/group/CLAUDE.md"))
tried("plant in memory", lambda: chain("/group/memory/topics/evil.md", {str(other_memory / 'MEMORY.md')!r}))
tried("replace memory", lambda: os.rename("/group/memory", "/group/gone"))
tried("write response", lambda: open("/ipc/responses/x.json", "w").write("{{}}"))
chain("/ipc/requests/chain.json", "/proc/self/environ")
os.mkfifo("/ipc/requests/fifo.json")
os.unlink("/ipc/heartbeat/beat") if os.path.lexists("/ipc/heartbeat/beat") else None
os.symlink("/proc/kmsg", "/ipc/heartbeat/beat")
import time
time.sleep(0.3)
print("PLANTED", sorted(os.listdir(".")))
""")
    assert time.monotonic() - started < 15, "planting hung the host"
    out = run_.output
    assert "PLANTED" in out, out
    assert "TRIED hard link own file ESCAPED" in out  # harmless: its own file
    assert "TRIED hard link memory EXDEV" in out  # a hard link cannot cross into the scratch folder
    for what in ("write personality", "unlink personality", "plant in memory", "replace memory", "write response"):
        assert f"TRIED {what} EROFS" in out, out
    assert run_.ipc.refused >= 2 and run_.ipc.done == 0  # the chained and the FIFO request
    assert SECRET not in out and OTHER_SECRET not in out
    return ToolContext("http:team", settings.workspace, settings)


@pytest.mark.timeout(60)
def test_the_file_tools_follow_no_planted_link_and_open_no_fifo(attacked: ToolContext) -> None:
    # When the agent reads every planted name (a read of /proc/kmsg would hang for good)
    started = time.monotonic()
    names = ["CLAUDE.md", "MEMORY.md", "memory/MEMORY.md", "memory/topics/diary.md", ".personality",
             "kmsg.txt", "direct-kmsg.txt", "environ.txt", "null.txt", "fifo.txt", "sock.txt"]
    results = {name: call(attacked, "read_file", path=name) for name in names}
    # Then each is refused, quickly, and nothing secret comes back
    for name, result in results.items():
        assert result.is_error, (name, result.content)
        assert SECRET not in result.content and OTHER_SECRET not in result.content
    assert "symlink" in results["CLAUDE.md"].content and "symlink" in results["memory/MEMORY.md"].content
    assert "FIFO" in results["fifo.txt"].content and "socket" in results["sock.txt"].content
    assert time.monotonic() - started < 10
    # And its own files still read fine, a hard link included
    assert call(attacked, "read_file", path="hard.txt").content == "my own file"
    # And listing everything follows nothing and ends
    listing = call(attacked, "list_files", recursive=True)
    assert not listing.is_error and SECRET not in listing.content and OTHER_SECRET not in listing.content
    top = call(attacked, "list_files").content
    assert "CLAUDE.md -> .deep-CLAUDE.md/mid/" in top and "fifo.txt (FIFO)" in top


def test_writes_through_planted_chains_land_nowhere(attacked: ToolContext) -> None:
    settings = attacked.settings
    other_memory = group_dir(settings.workspace, "http:other") / "memory"
    before = sorted(p.name for p in other_memory.rglob("*"))
    for path in ("owned.txt", "memory/topics/evil.md", "MEMORY.md", ".personality/CLAUDE.x.md", "fifo.txt"):
        result = call(attacked, "write_file", path=path, content="written by the attacker", mode="append")
        assert result.is_error, (path, result.content)
    assert not (settings.home / "owned.txt").exists()
    assert sorted(p.name for p in other_memory.rglob("*")) == before
    assert OTHER_SECRET in (other_memory / "MEMORY.md").read_text()


def test_personality_and_memory_stay_the_groups_own(attacked: ToolContext) -> None:
    settings = attacked.settings
    # The system prompt of the next turn holds the group's own personality and memory only
    prompt = load_personality(settings.workspace, "http:team") + memory_prompt(settings.workspace, "http:team")
    assert prompt.startswith("Be kind.\n") and "the team likes tea" in prompt
    assert SECRET not in prompt and OTHER_SECRET not in prompt
    # And the personality tool and the memory tools still work, on the group's own files
    assert not call(attacked, "update_personality", content="Use metric units.").is_error
    assert load_personality(settings.workspace, "http:team") == "Be kind.\n- Use metric units.\n"
    assert [p.read_text() for p in previous_versions(settings.workspace, "http:team")] == ["Be kind.\n"]
    found = call(attacked, "search_memory", query="basil diary secret")
    assert "water the basil" in found.content and OTHER_SECRET not in found.content
    assert not call(attacked, "save_memory", category="topics", topic="plants", content="and the mint").is_error
    # And nothing was written into CLAW_HOME (but claw's own index and quota images)
    assert sorted(p.name for p in settings.home.iterdir() if p.name not in ("memory-index", "quota")) == []


def test_the_next_run_is_not_hung_by_what_the_last_one_left(attacked: ToolContext) -> None:
    # Given the heartbeat is a link to /proc/kmsg, the scratch folder holds chains and FIFOs
    started = time.monotonic()
    run_ = run(attacked.settings, "import claw_ipc\nprint('SENT', claw_ipc.send_message('still here'))")
    assert "SENT {'group_id': 'http:team'" in run_.output, run_.output
    assert time.monotonic() - started < 15


def test_an_old_group_folder_with_planted_chains_is_migrated_without_following_them(
    settings: Settings, default_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a group folder from before the split: the sandbox's /workspace WAS the group folder,
    # and its code left CLAUDE.md and memory/ as chains out, a FIFO in .personality/
    monkeypatch.setenv("CLAW_API_TOKEN", SECRET)
    other = GroupMemory(workspace=settings.workspace, index_dir=settings.memory_index_dir, group_id="http:other")
    other.curate(OTHER_SECRET, now=NOW)
    old = group_dir(settings.workspace, "http:team")
    old.mkdir(parents=True)
    (old / "memory" / "topics").mkdir(parents=True)
    (old / "memory" / "topics" / "plants.md").write_text("# plants\n\nwater the basil\n")
    (old / "memory" / "topics" / "leak.md").symlink_to(group_dir(settings.workspace, "http:other") / "memory" / "MEMORY.md")
    (old / ".personality").mkdir()
    import os
    os.mkfifo(old / ".personality" / "CLAUDE.old.md")
    (old / "CLAUDE.md").symlink_to("/proc/self/environ")
    (old / "report.csv").write_text("a,b\n")
    # When the group is used again
    ensure_group_layout(settings.workspace, "http:team", None)
    # Then what the host reads is plain, the planted things are in the scratch folder's quarantine
    scratch = scratch_dir(settings.workspace, "http:team")
    assert sorted(p.name for p in old.iterdir()) == [".personality", "files", "memory"]
    assert (scratch / "report.csv").read_text() == "a,b\n"
    assert (scratch / "quarantine" / "CLAUDE.md").is_symlink()
    assert (scratch / "quarantine" / "memory" / "topics" / "leak.md").is_symlink()
    assert (scratch / "quarantine" / ".personality" / "CLAUDE.old.md").is_fifo()
    assert SECRET not in load_personality(settings.workspace, "http:team")
    assert OTHER_SECRET not in memory_prompt(settings.workspace, "http:team")
    memory = GroupMemory(workspace=settings.workspace, index_dir=settings.memory_index_dir, group_id="http:team")
    assert [h.file for h in memory.search("basil", now=NOW)] == ["topics/plants.md"]
    # And code sees its old files where it left them
    run_ = run(settings, "print(open('report.csv').read().strip(), open('/group/memory/topics/plants.md').read()[:8])")
    assert run_.output == "a,b # plants\n", run_.output

"""File IPC from a real bwrap sandbox: the one way out does only what the policy allows.

Each test's sandboxed code prints what it sent and what came back, and the test checks both
that output and the database (what really happened on the host).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from claw.config import Settings
from claw.db import Message, Outbox, read_session
from claw.db.models import OutboxStatus
from tests.support.sandbox import run

#: sandboxed Python that writes one raw request file and prints the host's answer
RAW_REQUEST = """
import json, os, time
def raw(name, data, wait=True):
    tmp = "/ipc/requests/.tmp-" + name
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else json.dumps(data).encode())
    os.rename(tmp, "/ipc/requests/" + name + ".json")
    if not wait:
        return None
    answer = "/ipc/responses/" + name + ".json"
    for _ in range(400):
        if os.path.exists(answer):
            return json.load(open(answer))
        time.sleep(0.01)
    return "no answer"
"""


def messages(group_id: str) -> list[str]:
    with read_session() as session:
        return list(session.scalars(
            select(Message.text).where(Message.group_id == group_id, Message.role == "assistant")
        ))


def test_send_message_posts_to_the_own_group_and_delivers(settings: Settings, default_db: str) -> None:
    run_ = run(settings, "import claw_ipc\nprint('ANSWER', claw_ipc.send_message('hello from the sandbox'))")
    assert "ANSWER {'group_id': 'http:team', 'outbox_id':" in run_.output, run_.output
    assert messages("http:team") == ["hello from the sandbox"]
    with read_session() as session:
        [row] = session.scalars(select(Outbox).where(Outbox.group_id == "http:team"))
    assert row.status == OutboxStatus.SENT  # an http group's client pulls: delivered inline
    assert run_.ipc.done == 1


def test_a_forged_group_gets_an_error_and_sends_nothing(settings: Settings, default_db: str) -> None:
    run_ = run(settings, RAW_REQUEST + """
print("TRIED group field:", raw("forged1", {"action": "send_message", "args": {"text": "pwned"},
                                           "group_id": "http:other"}))
print("TRIED is_main:", raw("forged2", {"action": "send_message", "args": {"text": "pwned"}, "is_main": True}))
import claw_ipc
try:
    claw_ipc.send_message("pwned", to="http:other")
except claw_ipc.IpcError as exc:
    print("TRIED to:", exc)
""")
    assert "TRIED group field: {'id': 'forged1', 'ok': False, 'error': 'a request cannot say who sent it (group_id)" in run_.output, run_.output
    assert "TRIED is_main: {'id': 'forged2', 'ok': False, 'error': 'a request cannot say who sent it (is_main)" in run_.output
    assert "TRIED to: group http:team may only message itself" in run_.output
    assert messages("http:other") == []
    assert messages("http:team") == []


def test_a_main_group_may_message_another_group(settings: Settings, default_db: str) -> None:
    run_ = run(settings, "import claw_ipc\nprint('ANSWER', claw_ipc.send_message('from main', to='http:other'))",
               group="http:main", is_main=True)
    assert "ANSWER {'group_id': 'http:other'" in run_.output, run_.output
    assert messages("http:other") == ["from main"]


def test_unknown_actions_and_malformed_requests_get_errors(settings: Settings, default_db: str) -> None:
    run_ = run(settings, RAW_REQUEST + """
print("TRIED unknown:", raw("unknown", {"action": "run_shell_on_host", "args": {"cmd": "id"}}))
print("TRIED malformed:", raw("malformed", b"{this is not json"))
print("TRIED not object:", raw("list", b"[1, 2]"))
print("TRIED bad args:", raw("badargs", {"action": "send_message", "args": {"text": "", "colour": "red"}}))
print("TRIED huge:", raw("huge", {"action": "send_message", "args": {"text": "x" * 100000}}))
os.symlink("/etc/passwd", "/ipc/requests/link.json")
print("TRIED symlink: planted")
os.mkfifo("/ipc/requests/fifo.json")
print("TRIED fifo: planted")
time.sleep(0.3)
print("ANSWERS", sorted(os.listdir("/ipc/responses")))
print("LINK:", open("/ipc/responses/link.json").read())
print("FIFO:", open("/ipc/responses/fifo.json").read())
""")
    out = run_.output
    assert "TRIED unknown: {'id': 'unknown', 'ok': False, 'error': \"unknown action 'run_shell_on_host'; allowed:" in out, out
    assert "TRIED malformed: {'id': 'malformed', 'ok': False, 'error': 'malformed request: not UTF-8 JSON" in out
    assert "TRIED not object: {'id': 'list', 'ok': False, 'error': 'malformed request: want a JSON object" in out
    assert "invalid args for send_message: text: String should have at least 1 character; colour: Extra inputs" in out
    assert "TRIED huge: {'id': 'huge', 'ok': False, 'error': 'request is 100" in out
    assert '"error": "a request must be a regular file (not a symlink, FIFO or directory)"' in out.split("LINK:")[1]
    assert '"error": "a request must be a regular file (not a symlink, FIFO or directory)"' in out.split("FIFO:")[1]
    assert messages("http:team") == []
    assert run_.ipc.refused == 7 and run_.ipc.done == 0


def test_path_traversal_through_ids_and_symlinks_writes_nothing_outside(
    settings: Settings, default_db: str, tmp_path: Path
) -> None:
    # Given a directory of the host the sandbox does not see, but whose path it knows
    outside = tmp_path / "outside"
    outside.mkdir()
    run_ = run(settings, RAW_REQUEST + f"""
print("TRIED id:", raw("trav", {{"id": "../../../{outside.name}/x", "action": "send_message", "args": {{"text": "a"}}}}))
print("TRIED target:", raw("trav2", {{"action": "send_message", "args": {{"text": "a", "to": "../../etc/passwd"}}}}))
import errno
# swap the responses directory for a symlink to the host directory, or write into it
for what, step in (("swap", lambda: os.rename("/ipc/responses", "/ipc/old-responses")),
                   ("link", lambda: os.symlink({str(outside)!r}, "/ipc/responses/trav3.json")),
                   ("write", lambda: open("/ipc/responses/trav3.json", "w").write("forged"))):
    try:
        step()
        print("TRIED", what, "responses: ESCAPED")
    except OSError as exc:
        print("TRIED", what, "responses:", errno.errorcode[exc.errno])
raw("trav3", {{"action": "send_message", "args": {{"text": "after the tries"}}}}, wait=False)
time.sleep(0.5)
print("TRIED responses: answers are", sorted(os.listdir("/ipc/responses")))
""")
    out = run_.output
    assert "TRIED id: {'id': 'trav', 'ok': False, 'error': \"the id in the request ('../../../outside/x') is not its file name ('trav')\"}" in out, out
    assert "TRIED target: {'id': 'trav2', 'ok': False, 'error': 'group http:team may only message itself" in out
    # responses/ is read-only inside: it cannot be swapped, linked from or forged
    for what in ("swap", "link", "write"):
        assert f"TRIED {what} responses: E" in out and f"TRIED {what} responses: ESCAPED" not in out
    assert "TRIED responses: answers are ['trav.json', 'trav2.json', 'trav3.json']" in out
    assert list(outside.iterdir()) == []  # nothing reached the host directory


def test_a_flood_is_rate_limited_and_the_host_survives(settings: Settings, default_db: str) -> None:
    started = time.monotonic()
    run_ = run(settings, """
import claw_ipc
for n in range(300):
    claw_ipc.send_message("flood %d" % n, wait=False)
print("TRIED flood of 300")
try:
    claw_ipc.send_message("after the flood", timeout=5)
    print("last: sent")
except claw_ipc.IpcError as exc:
    print("last:", exc)
""", ipc_rate=10)
    assert "TRIED flood of 300" in run_.output
    assert "last: rate limited: at most 10 requests per minute per group" in run_.output, run_.output
    sent = messages("http:team")
    assert 1 <= len(sent) <= 10
    assert run_.ipc.done == len(sent)
    assert run_.ipc.done + run_.ipc.refused + run_.ipc.dropped == 301
    assert time.monotonic() - started < 15


def test_leftover_requests_are_discarded_at_the_next_run(settings: Settings, default_db: str) -> None:
    # Given a request written while no sandbox ran (a crashed run)
    run(settings, "pass")
    requests = settings.workspace / "groups" / "http%3Ateam" / ".ipc" / "requests"
    (requests / "stale.json").write_text(json.dumps({"action": "send_message", "args": {"text": "old"}}))
    # When the group's code runs next
    run_ = run(settings, "import os\nprint('TRIED leftover:', os.listdir('/ipc/requests'))")
    # Then the stale request was discarded unanswered, never acted on
    assert "TRIED leftover: []" in run_.output
    assert messages("http:team") == []


def test_a_process_whose_heartbeat_stops_is_killed(settings: Settings) -> None:
    started = time.monotonic()
    run_ = run(settings, """
import os, signal, time
time.sleep(1.5)  # a heartbeat or two
print("TRIED stopping myself", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
print("still here")
""", heartbeat_timeout=1.5, wall_seconds=30)
    assert "TRIED stopping myself" in run_.output
    assert "still here" not in run_.output
    assert run_.killed == "heartbeat"
    assert time.monotonic() - started < 10  # long before the 30 s wall clock


def test_schedule_task_and_save_memory_act_for_the_requesting_group(settings: Settings, default_db: str) -> None:
    from claw.db.models import Schedule

    run_ = run(settings, """
import claw_ipc
print("SCHEDULED", claw_ipc.schedule_task(kind="reminder", spec="in 10 minutes", text="stretch"))
print("SAVED", claw_ipc.save_memory(category="topics", topic="plants", content="water the basil"))
try:
    claw_ipc.save_memory(category="topics", topic="all", content="for everyone", scope="global")
except claw_ipc.IpcError as exc:
    print("TRIED global:", exc)
""")
    assert "SCHEDULED {'schedule_id': 1, 'next_run':" in run_.output, run_.output
    assert "SAVED {'saved_in': 'topics/plants.md'}" in run_.output
    assert "TRIED global: only the main group can write global memory" in run_.output
    with read_session() as session:
        [schedule] = session.scalars(select(Schedule))
    assert (schedule.group_id, schedule.created_by, schedule.payload["text"]) == ("http:team", "sandbox", "stretch")
    memory_file = settings.workspace / "groups" / "http%3Ateam" / "memory" / "topics" / "plants.md"
    assert "water the basil" in memory_file.read_text()
    assert not (settings.workspace / "global").exists()


def test_code_cannot_schedule_itself_to_run_again(settings: Settings, default_db: str) -> None:
    from claw.db.models import Schedule

    # When sandboxed code asks for an agent prompt every minute that would run it again
    run_ = run(settings, """
import claw_ipc
try:
    claw_ipc.schedule_task(kind="agent_prompt", spec="every 1 minute", text="run loop.py again")
except claw_ipc.IpcError as exc:
    print("TRIED agent_prompt:", exc)
""")
    # Then the host refuses it by the group's policy, and nothing is scheduled
    assert "TRIED agent_prompt: code may not schedule a agent_prompt in group http:team" in run_.output, run_.output
    assert run_.ipc.refused == 1
    with read_session() as session:
        assert list(session.scalars(select(Schedule))) == []


def test_a_deep_request_is_answered_and_the_valid_one_beside_it_too(settings: Settings, default_db: str) -> None:
    # Given code that writes a request nested 30,000 deep and a valid one, then waits for both
    run_ = run(settings, RAW_REQUEST + """
deep = b'{"action": "send_message", "args": {"text": ' + b"[" * 30000 + b"]" * 30000 + b"}}"
raw("deep", deep, wait=False)
print("ANSWER fine", json.dumps(raw("fine", {"action": "send_message", "args": {"text": "still delivered"}})))
for _ in range(400):
    if os.path.exists("/ipc/responses/deep.json"):
        break
    time.sleep(0.01)
print("ANSWER deep", open("/ipc/responses/deep.json").read())
""")
    assert 'ANSWER deep {"id": "deep", "ok": false, "error": "malformed request: nested more than 32 levels deep"}' in run_.output, run_.output
    assert 'ANSWER fine {"id": "fine", "ok": true' in run_.output
    assert messages("http:team") == ["still delivered"]


IPC_FILL = """
import os
def fill(path, mb):
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(mb):
                f.write(b"x" * (1 << 20))
                written += 1
    except OSError as exc:
        return f"stopped after {written} MB: {exc.strerror}"
    return f"wrote all {written} MB"
def many(folder, count):
    made = 0
    try:
        for n in range(count):
            os.close(os.open(f"{folder}/.f{n}", os.O_CREAT | os.O_WRONLY, 0o644))
            made += 1
    except OSError as exc:
        return f"stopped after {made} files: {exc.strerror}"
    return f"made all {made}"
print("HEARTBEAT", fill("/ipc/heartbeat/.big", 48))
print("REQUESTS", fill("/ipc/requests/.big", 48))
os.remove("/ipc/heartbeat/.big")
os.remove("/ipc/requests/.big")
print("FILES", many("/ipc/heartbeat", 20000))
"""


def test_the_ipc_folders_are_not_a_way_around_the_disk_quota(settings: Settings) -> None:
    # Given a group allowed 16 MB of disk, whose code writes into the IPC folders instead,
    # which lie on the host's own filesystem: 48 MB to each and 20,000 files
    if os.geteuid() != 0:
        pytest.skip("claw mounts the IPC folders' own small filesystems only as root")
    run_ = run(settings, IPC_FILL, disk_mb=16, files=500, file_size_mb=64, wall_seconds=30)
    # Then every write stops at a small cap inside the sandbox
    assert "HEARTBEAT stopped after" in run_.output and "No space left on device" in run_.output, run_.output
    assert "REQUESTS stopped after" in run_.output, run_.output
    assert "FILES stopped after" in run_.output, run_.output
    for line in run_.output.splitlines():
        if line.startswith(("HEARTBEAT", "REQUESTS")):
            assert int(line.split("stopped after ")[1].split()[0]) <= 16, line
    # And nothing of it is left on the host
    ipc = settings.workspace / "groups" / "http%3Ateam" / ".ipc"
    assert [p for p in ipc.rglob("*") if p.is_file()] == []


def test_a_folder_too_deep_to_remove_recursively_costs_the_group_no_later_run(settings: Settings) -> None:
    # Given code that leaves folders 3,000 deep in both IPC folders it may write
    deep = run(settings, """
import os
for top in ("/ipc/heartbeat", "/ipc/requests"):
    os.chdir(top)
    made = 0
    try:
        for _ in range(3000):
            os.mkdir("d.json"); os.chdir("d.json"); made += 1
    except OSError as exc:
        pass
    print("DEEP", top, made)
""", wall_seconds=30)
    assert "DEEP /ipc/heartbeat" in deep.output, deep.output
    # Then the run still ends normally, the folders are emptied, and the group's next run works
    ipc = settings.workspace / "groups" / "http%3Ateam" / ".ipc"
    assert list((ipc / "heartbeat").iterdir()) == [] and list((ipc / "requests").iterdir()) == []
    again = run(settings, "print('again')")
    assert again.output == "again\n", again.output


def test_a_stream_of_junk_requests_cannot_flood_the_log(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Given code that keeps writing request files the host must drop (bad names), for seconds
    run_ = run(settings, """
import os, time
made, n, began = 0, 0, time.time()
while time.time() - began < 3:
    n += 1
    try:
        os.close(os.open(f"/ipc/requests/bad{n}", os.O_CREAT | os.O_WRONLY)); made += 1
    except OSError:
        pass
print("MADE", made)
""", wall_seconds=20)
    made = int(run_.output.split("MADE ")[1].split()[0])
    assert made > 2000, run_.output
    # Then every one was dropped, but the log got a few lines and a count, not a line each
    assert run_.ipc.dropped == made
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("claw.sandbox")]
    assert len(lines) < 60, len(lines)
    assert any(f"ipc_dropped group=http:team count={made}" in line for line in lines), lines[-5:]

"""The escape suite: code in the bwrap sandbox tries to get out, and must fail.

Every attempt prints what it tried and what happened, and each test asserts on that output,
so a test cannot pass by not trying: a silent sandbox (or one that never ran the code) fails.
Where it matters, the test first shows the target is reachable from the host.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import redis

from claw.config import Settings
from claw.workspace import group_dir, scratch_dir
from tests.support.redis_server import LocalRedis
from tests.support.sandbox import run

SECRET = "s3cret-" + uuid.uuid4().hex


def attempt(what: str, body: str) -> str:
    """Python that runs ``body`` and prints ``TRIED <what>: <outcome>`` either way."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return (
        "try:\n"
        f"{indented}\n"
        f"    print('TRIED {what}: ESCAPED', repr(result))\n"
        "except BaseException as exc:\n"
        f"    print('TRIED {what}:', type(exc).__name__, exc)\n"
    )


# ---- network --------------------------------------------------------------------------------


def test_cannot_connect_to_redis_on_the_host(settings: Settings, redis_server: LocalRedis) -> None:
    # Given a real Redis the host can talk to
    assert redis.Redis(port=redis_server.port).ping()
    # When sandboxed code connects to it
    run_ = run(settings, attempt("redis", f"""
import socket
s = socket.create_connection(("127.0.0.1", {redis_server.port}), timeout=3)
s.sendall(b"PING\\r\\n")
result = s.recv(100)
"""))
    # Then the connection is refused: the sandbox's loopback is its own
    assert "TRIED redis: ConnectionRefusedError" in run_.output, run_.output


class _Secret(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(SECRET.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Secret)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _host_address() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return None


def test_cannot_reach_an_http_server_on_the_host(settings: Settings, http_server: int) -> None:
    import httpx

    assert httpx.get(f"http://127.0.0.1:{http_server}/").text == SECRET  # the host can
    outside = _host_address() or "192.0.2.1"
    run_ = run(settings, attempt("loopback", f"""
import urllib.request
result = urllib.request.urlopen("http://127.0.0.1:{http_server}/", timeout=3).read()
""") + attempt("interface", f"""
import socket
result = socket.create_connection(("{outside}", {http_server}), timeout=3)
""") + attempt("dns", """
import socket
result = socket.getaddrinfo("example.com", 80)
"""))
    assert SECRET not in run_.output
    assert "TRIED loopback: URLError <urlopen error [Errno 111] Connection refused>" in run_.output
    assert "TRIED interface: OSError [Errno 101] Network is unreachable" in run_.output, run_.output
    assert "TRIED dns: gaierror" in run_.output


# ---- files ----------------------------------------------------------------------------------


def test_cannot_read_another_groups_workspace(settings: Settings) -> None:
    other = group_dir(settings.workspace, "http:other")
    other.mkdir(parents=True)
    (other / "diary.txt").write_text(SECRET)
    run_ = run(settings, attempt("absolute", f"""
result = open({str(other / 'diary.txt')!r}).read()
""") + attempt("relative", """
result = open("/workspace/../http%3Aother/diary.txt").read()
""") + attempt("listing", """
import os
result = os.listdir("/workspace/..")
raise FileNotFoundError("no other group in " + repr(result)) if "http%3Aother" not in result else None
"""))
    assert SECRET not in run_.output
    assert "TRIED absolute: FileNotFoundError" in run_.output, run_.output
    assert "TRIED relative: FileNotFoundError" in run_.output
    assert "TRIED listing: FileNotFoundError no other group in" in run_.output


def test_no_file_of_another_group_is_anywhere_in_the_sandbox(settings: Settings) -> None:
    # Given another group's scratch files, memory and personality on the host, each named and
    # holding the secret, and a file of this group's own
    marker = "other-group-" + uuid.uuid4().hex[:8]
    other = group_dir(settings.workspace, "http:other")
    for folder in (scratch_dir(settings.workspace, "http:other"), other / "memory", other):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{marker}.txt").write_text(SECRET)
    own = run(settings, "open('mine.txt', 'w').write('team')")
    assert own.exit_code == 0, own.output
    # When this group's code walks every folder it can see (but the system's) and reads each file
    run_ = run(settings, f"""
import os
seen, found = [], []
for top in ("/",):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/usr", "/dev")]
        for name in files:
            path = os.path.join(root, name)
            seen.append(path)
            try:
                if {marker!r} in name or {SECRET!r} in open(path, errors="replace").read(1 << 16):
                    found.append(path)
            except OSError:
                pass
print("OWN", "/workspace/mine.txt" in seen, "FOUND", found)
""")
    # Then it sees its own file and nothing of the other group's
    assert "OWN True FOUND []" in run_.output, run_.output


def test_cannot_read_the_database_or_the_api_token(settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    database = settings.home / "claw.db"
    database.write_text(SECRET)
    settings.token_file.write_text(SECRET)
    run_ = run(settings, attempt("database", f"result = open({str(database)!r}).read()")
               + attempt("token", f"result = open({str(settings.token_file)!r}).read()")
               + attempt("home", "import os\nresult = os.listdir('/root')"))
    assert SECRET not in run_.output
    for what in ("database", "token", "home"):
        assert f"TRIED {what}: FileNotFoundError" in run_.output, run_.output


def test_finds_no_secret_in_its_environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given claw's own process holds keys and tokens in its environment
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("CLAW_API_TOKEN", SECRET)
    # When sandboxed code looks everywhere an environment shows
    run_ = run(settings, """
import os
print("TRIED environ:", sorted(os.environ))
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            print("TRIED /proc/%s/environ:" % pid, open("/proc/%s/environ" % pid, "rb").read())
        except OSError as exc:
            print("TRIED /proc/%s/environ:" % pid, type(exc).__name__)
""")
    # Then it sees only the safe variables
    assert "TRIED environ: ['CLAW_HEARTBEAT_INTERVAL', 'CLAW_IPC_DIR', 'HOME', 'LANG', 'PATH'" in run_.output
    assert "TRIED /proc/1/environ:" in run_.output
    assert SECRET not in run_.output
    assert "ANTHROPIC" not in run_.output


def test_cannot_write_outside_the_workspace(settings: Settings) -> None:
    marker = f"claw-escape-{uuid.uuid4().hex}"
    run_ = run(settings, "".join(
        attempt(name, f"result = open({path!r}, 'w').write('x')")
        for name, path in [("usr", f"/usr/{marker}"), ("etc", f"/etc/{marker}"), ("root", f"/{marker}"),
                           ("guest", "/opt/claw/claw_ipc.py")]
    ) + attempt("tmp", f"result = open('/tmp/{marker}', 'w').write('private')"))
    for name in ("usr", "etc", "root", "guest"):
        assert f"TRIED {name}: OSError [Errno 30] Read-only file system" in run_.output, run_.output
    # /tmp is writable but private: nothing reaches the host's /tmp
    assert "TRIED tmp: ESCAPED 7" in run_.output
    assert not Path(f"/tmp/{marker}").exists()
    assert not Path(f"/usr/{marker}").exists()


def test_a_symlink_planted_in_the_workspace_leads_nowhere(settings: Settings) -> None:
    workspace = scratch_dir(settings.workspace, "http:team")
    workspace.mkdir(parents=True)
    (workspace / "etc").symlink_to("/etc")
    (workspace / "home").symlink_to(settings.home)
    run_ = run(settings, attempt("passwd", "result = open('/workspace/etc/passwd').read()")
               + attempt("shadow", "result = open('/workspace/etc/shadow').read()")
               + attempt("claw home", "import os\nresult = os.listdir('/workspace/home')"))
    for what in ("passwd", "shadow", "claw home"):
        assert f"TRIED {what}: FileNotFoundError" in run_.output, run_.output


def test_code_cannot_plant_anything_where_the_host_reads_and_its_litter_is_tidied(settings: Settings) -> None:
    from claw.personality import load_personality, save_personality

    # Given secrets on the host, a personality and memory, and code that links to the secrets
    # where host code looks (the personality and memory are read-only at /group inside)
    settings.home.mkdir(parents=True)
    settings.token_file.write_text(SECRET)
    save_personality(settings.workspace, "http:team", "Be kind.\n")
    (group_dir(settings.workspace, "http:team") / "memory").mkdir(parents=True)
    run_ = run(settings, "import os\n" + attempt("personality", "result = os.unlink('/group/CLAUDE.md')")
               + attempt("replace", "result = os.rename('/group/CLAUDE.md', '/group/old.md')")
               + attempt("memory", f"result = os.symlink({str(settings.home)!r}, '/group/memory/topics')")
               + attempt("read", "result = open('/group/CLAUDE.md').read().strip()") + f"""
import os
os.symlink({str(settings.token_file)!r}, "/workspace/CLAUDE.md")
os.symlink("notes.txt", "/workspace/alias.txt")
os.mkfifo("/workspace/pipe")
print("TRIED planting:", sorted(os.listdir("/workspace")))
""")
    for what in ("personality", "replace", "memory"):
        assert f"TRIED {what}: OSError [Errno 30] Read-only file system" in run_.output, run_.output
    assert "TRIED read: ESCAPED 'Be kind.'" in run_.output  # code may read its personality
    assert "TRIED planting: ['CLAUDE.md', 'alias.txt', 'pipe']" in run_.output, run_.output
    # Then the personality is untouched, and after the run the scratch folder's outward link and
    # FIFO are tidied away (hygiene only: the host reads nothing there through a link anyway)
    assert load_personality(settings.workspace, "http:team") == "Be kind.\n"
    assert sorted(p.name for p in scratch_dir(settings.workspace, "http:team").iterdir()) == ["alias.txt"]


# ---- processes ------------------------------------------------------------------------------


def test_sees_no_host_process(settings: Settings, redis_server: LocalRedis) -> None:
    host_pids = {os.getpid(), redis_server.process.pid if redis_server.process else os.getppid()}
    run_ = run(settings, f"""
import os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("TRIED /proc:", pids, [open("/proc/%d/cmdline" % p, "rb").read()[:40] for p in pids])
for pid in {sorted(host_pids)}:
    try:
        os.kill(pid, 0)
        print("TRIED kill", pid, "ESCAPED")
    except OSError as exc:
        print("TRIED kill", pid, type(exc).__name__)
""")
    seen = json.loads(run_.output.split("TRIED /proc: ")[1].split("]")[0] + "]")
    assert len(seen) <= 4, run_.output  # bwrap's init, prlimit's python, and the /proc reader
    assert "redis-server" not in run_.output
    for pid in host_pids:
        assert f"TRIED kill {pid} ProcessLookupError" in run_.output or pid in seen


def _alive(marker: str) -> list[psutil.Process]:
    """Live processes whose command line holds ``marker`` (every sandboxed process of the test
    carries it: forks keep their parent's command line). Zombies are dead and left out: bwrap's
    monitor exits on its init's exit report without reaping it; the host's pid 1 reaps it."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if marker in " ".join(process.info["cmdline"] or []) and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            pass
    return found


def test_a_fork_bomb_hits_the_process_limit(settings: Settings) -> None:
    marker = f"bomb-{uuid.uuid4().hex}"
    run_ = run(settings, f"# {marker}\n" + """
import os, time
children = 0
try:
    for _ in range(10_000):
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        children += 1
    print("TRIED fork bomb: ESCAPED", children)
except OSError as exc:
    print("TRIED fork bomb: stopped after", children, "children:", exc)
""", processes=16)
    assert "TRIED fork bomb: stopped after" in run_.output, run_.output
    assert "Resource temporarily unavailable" in run_.output
    children = int(run_.output.split("stopped after ")[1].split()[0])
    assert children < 16
    assert _alive(marker) == []  # the whole sandbox went with its main process


def test_a_bash_fork_bomb_is_stopped_and_cleaned_up(settings: Settings) -> None:
    started = time.monotonic()
    marker = f"bomb-{uuid.uuid4().hex}"
    run_ = run(settings, f"# {marker}\necho TRIED bash fork bomb; bomb() {{ bomb | bomb & }}; bomb; sleep 30",
               language="bash", processes=16, wall_seconds=3)
    assert "TRIED bash fork bomb" in run_.output
    assert "Resource temporarily unavailable" in run_.output, run_.output
    assert time.monotonic() - started < 10
    assert _alive(marker) == []


def test_a_memory_bomb_hits_the_memory_limit(settings: Settings) -> None:
    run_ = run(settings, attempt("one block", "result = len(bytearray(2 << 30))") + attempt("growing", """
blocks = []
for _ in range(100):
    blocks.append(bytearray(64 << 20))
result = len(blocks)
"""), memory_mb=256)
    assert "TRIED one block: MemoryError" in run_.output, run_.output
    assert "TRIED growing: MemoryError" in run_.output


def test_an_infinite_loop_is_killed_at_the_wall_clock_limit(settings: Settings) -> None:
    started = time.monotonic()
    marker = f"loop-{uuid.uuid4().hex}"
    run_ = run(settings, f"# {marker}\nprint('TRIED infinite loop', flush=True)\nwhile True:\n    pass",
               wall_seconds=1.5)
    assert "TRIED infinite loop" in run_.output
    assert run_.killed == "timeout"
    assert 1.4 < time.monotonic() - started < 6
    assert _alive(marker) == []


def test_ten_megabytes_of_output_are_cut_with_a_marker(settings: Settings) -> None:
    run_ = run(settings, "import sys\nsys.stdout.write('TRIED flood\\n' + 'x' * (10 << 20) + '\\nTHE END\\n')",
               output_kb=16)
    assert run_.output.startswith("TRIED flood")
    assert run_.output.rstrip().endswith("THE END")  # the tail is kept
    assert "[… output truncated:" in run_.output
    assert run_.output_bytes > 10 << 20
    assert len(run_.output) < 17 * 1024

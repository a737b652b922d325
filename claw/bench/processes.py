"""Child processes of a bench run: free ports, bounded waits, stopping whole trees, and the
name of each process of a `claw up` tree.

Every wait here has a deadline and every process is stopped from a ``finally``: a bench that
hangs, or leaves Celery workers consuming from someone's Redis, is worse than one that fails.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil

from claw.bench.errors import BenchError

log = logging.getLogger(__name__)

#: Celery's process titles (setproctitle): "[celeryd: shard0@host:MainProcess] ...",
#: "[celeryd: shard0@host:ForkPoolWorker-1]", "[celery beat] ..."
CELERY_WORKER_TITLE = re.compile(r"\[celeryd: ([^@\]]+)@[^:\]]*:([^\]]+)\]")
#: the fork server's title for a child, until Celery gives it its own: "claw shard0: celery ..."
FORKED_TITLE = re.compile(r"^claw (\S+): ")


def process_name(process: psutil.Process, root: int) -> str:
    """A readable name for a process of the `claw up` tree under ``root``: "claw up
    (supervisor)", "forkserver", "shard0", "shard0 pool", "io", "beat", "api", "flower",
    "redis"... (claw bench footprint prints them; claw bench scale sums CPU by them)."""
    cmd = process.cmdline()
    joined = " ".join(cmd)
    if process.pid == root:
        return "claw up (supervisor)"
    if "redis-server" in joined:
        return "redis"
    if "claw.runtime.forkserver" in cmd:
        return "forkserver"
    if match := CELERY_WORKER_TITLE.search(joined):
        node, role = match.groups()
        return node if role == "MainProcess" else f"{node} pool"
    if match := FORKED_TITLE.match(joined):
        return match.group(1)
    if "-n" in cmd:  # a worker started as a program of its own, where setproctitle is missing
        node = cmd[cmd.index("-n") + 1].split("@")[0]
        parent = process.parent()
        return f"{node} pool" if parent is not None and "-n" in parent.cmdline() else node
    words = joined.split()
    if "beat" in words or "beat]" in words:  # Celery's own title: "[celery beat] ..."
        return "beat"
    for role in ("flower", "uvicorn"):
        if role in words:
            return "api" if role == "uvicorn" else role
    parent = process.parent()
    if parent is not None and parent.pid != root:
        return f"{process_name(parent, root)} child"
    return os.path.basename(cmd[0]) if cmd else "?"


T = TypeVar("T")


def free_port() -> int:
    """A loopback port that was free a moment ago (the usual small race is acceptable here)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy, or raise BenchError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read before anything is killed (orphans get reparented).

    psutil is used when installed; the /proc walk keeps the bench free of a hard dependency.
    """
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except ImportError:
        pass
    except Exception:  # the process is already gone
        return []
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and everything it started, even children in sessions of their own."""
    for pid in [*_descendants(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def stop_process(process: subprocess.Popen[bytes], *, name: str, grace: float) -> None:
    """SIGTERM (a warm shutdown for Celery and for `claw up`), then the whole tree after ``grace``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.warning("bench_kill process=%s pid=%s grace=%.0fs", name, process.pid, grace)
        kill_tree(process)


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a child's log, for error messages that tell the user what went wrong."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"

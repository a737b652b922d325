"""A shard worker told to stop warm finishes the turn it runs and starts no other (a real
worker process on the solo pool, real Redis).

The turns a worker holds with a countdown (cooldowns, retries) come due while it runs one that
came due before them; the event loop fires due ones in a row (up to ten), and the solo pool used
to run each of them, before the worker looked at its stop flag."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.support.redis_server import LocalRedis

WORKER = """
import sys, time
from celery import Celery

app = Celery("stoptest", broker=sys.argv[1])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, worker_hijack_root_logger=False,
                worker_pool="claw.runtime.solo_pool:TaskPool", task_default_queue="stoptest")
marks = sys.argv[2]

@app.task(name="stoptest.work")
def work(n, seconds):
    open(marks, "a").write(f"start {n}\\n")
    time.sleep(seconds)
    open(marks, "a").write(f"end {n}\\n")

if __name__ == "__main__":
    app.worker_main(["worker", "-Q", "stoptest", "-c", "1", "--without-gossip", "--without-mingle",
                     "--without-heartbeat", "-l", "INFO"])
"""


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_warm_stop_runs_no_turn_that_comes_due_meanwhile(redis_server: LocalRedis, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.touch()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, str(script), redis_server.url, str(marks)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        from celery import Celery

        app = Celery("stoptest", broker=redis_server.url)
        client = redis.Redis.from_url(redis_server.url)
        wait_for(lambda: b"ready" in (tmp_path / "worker.log").read_bytes(), 60, "the worker")
        # Given a worker holding four tasks with a countdown: one due in 1 s that takes 3 s, and
        # three due while it runs
        app.send_task("stoptest.work", args=[0, 3], queue="stoptest", countdown=1)
        for n in (1, 2, 3):
            app.send_task("stoptest.work", args=[n, 0.1], queue="stoptest", countdown=2)
        wait_for(lambda: client.llen("stoptest") == 0, 10, "the countdown tasks to be received")
        wait_for(lambda: "start 0" in marks.read_text(), 10, "the long task to start")

        # When it is told to stop warm, while the long one runs
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0

        # Then the running task finished, and none of the others started: they are back in
        # their queue for the next worker
        assert marks.read_text().split("\n")[:-1] == ["start 0", "end 0"]
        assert client.llen("stoptest") == 3
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()

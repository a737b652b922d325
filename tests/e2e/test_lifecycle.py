"""`claw up` stops warm and starts again without losing anything; `claw doctor` and
`claw send` work against the running stack."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis

from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

LATENCY_MS = 2500


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0,
        offline_latency_ms=LATENCY_MS,
    ) as claw:
        yield claw


def run_claw(stack: ClawStack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "CLAW_API_PORT": str(stack.api_port), "EDITOR": "true"}
    return subprocess.run(
        [sys.executable, "-m", "claw.cli", *args], env=env, cwd=stack.home,
        capture_output=True, text=True, timeout=120, input=stdin,
    )


def test_doctor_passes_on_a_running_stack(stack: ClawStack) -> None:
    result = run_claw(stack, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("database", "redis", "workers", "beat", "workspace", "llm", "sandbox"):
        assert f"ok   {name}" in result.stdout
    assert stack.token not in result.stdout + result.stderr


def test_claw_send_prints_the_reply(stack: ClawStack) -> None:
    result = run_claw(stack, "send", "cli", "hello from the shell", "--sender", "kim")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "kim: hello from the shell"


def test_claw_chat_is_a_terminal_conversation(stack: ClawStack) -> None:
    result = run_claw(stack, "chat", "--group", "desk", "--sender", "max", stdin="first line\nsecond line\n")
    assert result.returncode == 0, result.stderr
    assert "Chatting in terminal:desk as max" in result.stdout
    assert "max: first line" in result.stdout and "max: second line" in result.stdout
    users = [m["text"] for m in stack.messages("terminal:desk") if m["role"] == "user"]
    assert users == ["first line", "second line"]


def test_claw_usage_and_groups_commands_show_what_the_api_knows(stack: ClawStack) -> None:
    stack.post("shown", "one two", wait=30)
    usage = run_claw(stack, "usage", "http:shown")
    assert usage.returncode == 0, usage.stderr
    [row] = [line for line in usage.stdout.splitlines() if line.startswith("http:shown")]
    assert row.split()[1:4] == ["1", "2", "3"]  # turns, input words, output words ("alice: one two")
    listed = run_claw(stack, "groups", "list")
    assert "http:shown" in listed.stdout.split()
    assert run_claw(stack, "groups", "set", "http:shown", "--priority").returncode == 0
    [row] = [line for line in run_claw(stack, "groups", "list").stdout.splitlines() if line.startswith("http:shown ")]
    assert row.split()[-1] == "priority"
    personality = run_claw(stack, "groups", "personality", "http:shown")
    assert personality.returncode == 0 and personality.stdout.startswith("# source: default")
    missing = run_claw(stack, "usage", "http:nobody")
    assert missing.returncode == 1 and "unknown group" in missing.stderr


def test_sigterm_lets_the_running_turn_finish_and_a_restart_delivers_it(stack: ClawStack) -> None:
    # Given a turn in progress
    stack.post("warm", "finish me", sender="lou")
    client = redis.Redis.from_url(stack.env["CLAW_REDIS_URL"])
    wait_until(lambda: client.exists("claw:lease:http:warm"), 20, "the turn to start", every=0.02)
    # When claw up is told to stop
    assert stack.stop() == 0
    # Then the turn still finished and its reply is in the database
    assert [r["text"] for r in stack.sql("SELECT text FROM outbox WHERE group_id='http:warm'")] == [
        "lou: finish me"
    ]
    # And doctor on the stopped stack fails with a clear message
    down = run_claw(stack, "doctor")
    assert down.returncode == 1
    assert "FAIL workers" in down.stdout
    # When it is started again, the reply is delivered, once
    stack.start()
    stack.wait_answered("http:warm", 1, timeout=60)
    assert stack.sql("SELECT status FROM outbox WHERE group_id='http:warm'") == [{"status": "sent"}]


def test_a_group_event_stream_shows_typing_then_the_reply(stack: ClawStack) -> None:
    import threading

    import httpx

    stack.post("typing", "first", wait=30)
    events: list[str] = []
    seen_at: list[float] = []
    subscribed = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=str(stack.http.base_url), headers=stack.http.headers, timeout=30) as client:
            with client.stream("GET", "/v1/groups/http:typing/events", params={"seconds": 20}) as stream:
                for line in stream.iter_lines():
                    if line.startswith(": subscribed"):
                        subscribed.set()
                    if line.startswith("event: "):
                        events.append(line.removeprefix("event: "))
                        seen_at.append(time.monotonic())
                    if "reply" in events:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert subscribed.wait(10)
    stack.post("typing", "second")
    listener.join(timeout=30)
    # "typing" as soon as the model is asked (and again as it writes), then the reply
    assert events[0] == "typing" and events[-1] == "reply"
    assert set(events[:-1]) == {"typing"}
    assert seen_at[-1] - seen_at[0] > LATENCY_MS / 1000 * 0.8  # shown while the model worked
    assert stack.http.get("/v1/groups/http:nobody/events").status_code == 404

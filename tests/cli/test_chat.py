"""`claw chat` in a pseudo-terminal against a real stack, and the event stream it reads.

One stack for the module (offline model with a latency, so "claw is typing…" has time to
show; the scheduler ticking every second, so a reminder fires within the test). The tests run
in file order: the last ones stop and restart the stack.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pexpect
import pytest
from httpx_sse import connect_sse

from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

LATENCY_MS = 1500


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0,
        offline_latency_ms=LATENCY_MS, scheduler_interval=1,
    ) as claw:
        yield claw


def open_chat(stack: ClawStack, group: str, sender: str = "max") -> pexpect.spawn:
    env = {**stack.env, "CLAW_API_PORT": str(stack.api_port), "TERM": "dumb"}
    child = pexpect.spawn(sys.executable, ["-m", "claw.cli", "chat", "--group", group, "--sender", sender],
                          env=env, cwd=str(stack.home), encoding="utf-8", timeout=30,
                          dimensions=(40, 200))
    child.expect_exact(f"Chatting in terminal:{group} as {sender}")
    return child


def claw_says(text: str) -> str:
    return re.escape(f"[claw] {text}")


def expect_all(child: pexpect.spawn, patterns: list[str], timeout: float = 30) -> None:
    """Each pattern (a regex) shows up, in whatever order."""
    left = list(patterns)
    deadline = time.monotonic() + timeout
    while left:
        index = child.expect(left, timeout=max(deadline - time.monotonic(), 0.1))
        left.pop(index)


def post_terminal(stack: ClawStack, chat: str, text: str, sender: str) -> None:
    """A message in a terminal group, answered before this returns."""
    response = stack.http.post("/v1/messages", params={"wait": 60},
                               json={"chat_id": chat, "text": text, "sender": sender, "channel": "terminal"})
    assert response.status_code == 200, response.text


def at(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return f"at {moment.strftime('%Y-%m-%dT%H:%M:%S')}Z"


def test_chat_shows_recent_history_then_marks_claws_lines_and_quit_leaves(stack: ClawStack) -> None:
    # Given a group with a conversation already
    post_terminal(stack, "desk", "earlier words", sender="kim")
    post_terminal(stack, "desk", "more earlier words", sender="kim")

    # When claw chat opens on it
    chat = open_chat(stack, "desk")

    # Then it shows the last messages, people's as "name> " and claw's marked as claw's
    chat.expect_exact("(the last 4 messages)")
    chat.expect_exact("kim> earlier words")
    chat.expect(claw_says("kim: earlier words"))
    chat.expect_exact("kim> more earlier words")
    chat.expect(claw_says("kim: more earlier words"))
    # And a line typed is answered, the typing indicator first, the offline echo clearly claw's
    chat.expect_exact("max> ")
    chat.sendline("hello there")
    chat.expect_exact("claw is typing…")
    chat.expect(claw_says("max: hello there"))
    # And quit leaves
    chat.sendline("quit")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0


def test_a_chat_whose_name_holds_a_slash_shows_its_history_and_replies(stack: ClawStack) -> None:
    # Given a group `claw send "team/ops" …` made (before, `claw chat` asked for its history and
    # events unescaped, got 404s and showed neither its history nor any reply)
    post_terminal(stack, "team/ops", "slashed words", sender="kim")

    chat = open_chat(stack, "team/ops")

    chat.expect_exact("kim> slashed words")
    chat.expect(claw_says("kim: slashed words"))
    chat.expect_exact("max> ")
    chat.sendline("and now?")
    chat.expect(claw_says("max: and now?"))
    chat.sendline("quit")
    chat.expect(pexpect.EOF)
    chat.close()


def test_a_full_group_id_is_that_group_not_a_terminal_chat_named_after_it(stack: ClawStack) -> None:
    # Before, `claw chat --group terminal:main` chatted in terminal:terminal:main and `--group
    # http:team` in terminal:http:team: every other command reads a name with ':' as a full id
    post_terminal(stack, "fullid", "said before", sender="kim")
    env = {**stack.env, "CLAW_API_PORT": str(stack.api_port), "TERM": "dumb"}
    for group, said in [("terminal:fullid", "kim> said before"), ("http:fullid", None)]:
        chat = pexpect.spawn(sys.executable, ["-m", "claw.cli", "chat", "--group", group, "--sender", "max"],
                             env=env, cwd=str(stack.home), encoding="utf-8", timeout=30, dimensions=(40, 200))
        chat.expect_exact(f"Chatting in {group} as max")
        if said:
            chat.expect_exact(said)
        chat.expect_exact("max> ")
        chat.sendline("which group?")
        chat.expect(claw_says("max: which group?"))
        chat.sendline("quit")
        chat.expect(pexpect.EOF)
        chat.close()
    assert stack.http.get("/v1/groups/http:fullid/messages").json()["messages"][0]["text"] == "which group?"
    assert stack.http.get("/v1/groups/terminal:terminal:fullid/messages").status_code == 404

    refused = pexpect.spawn(sys.executable, ["-m", "claw.cli", "chat", "--group", "telegram:-100"],
                            env=env, cwd=str(stack.home), encoding="utf-8", timeout=30)
    refused.expect_exact("claw: claw chat talks in terminal, http, web groups, not telegram:-100")
    refused.expect(pexpect.EOF)
    refused.close()
    assert refused.exitstatus == 2


def test_a_new_chat_shows_typing_for_its_first_message_and_ctrl_d_leaves(stack: ClawStack) -> None:
    chat = open_chat(stack, "fresh")
    chat.expect_exact("max> ")
    chat.sendline("first ever")
    chat.expect_exact("claw is typing…")
    chat.expect(claw_says("max: first ever"))
    chat.sendeof()
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0


def test_a_reminder_that_fires_while_the_chat_is_open_appears_unprompted(stack: ClawStack) -> None:
    chat = open_chat(stack, "kitchen")
    chat.expect_exact("max> ")
    chat.sendline("set one up")
    chat.expect(claw_says("max: set one up"))
    # When a reminder is due a few seconds later, with nothing typed meanwhile
    created = stack.http.post("/v1/schedules", json={"group_id": "terminal:kitchen", "spec": at(3),
                                                     "text": "take the bread out", "kind": "reminder"})
    assert created.status_code == 201, created.text
    # and half a line typed meanwhile
    chat.send("half typed")
    # Then it is shown as claw's, as it is delivered, and the prompt is drawn again with what
    # was typed so far, which is still there to finish
    chat.expect(claw_says("Reminder: take the bread out"), timeout=30)
    chat.expect_exact("max> half typed")
    chat.sendline(" and finished")
    chat.expect(claw_says("max: half typed and finished"))
    # And a message sent by code through IPC is shown as it is delivered, before the turn's reply
    chat.sendline("run python: import claw_ipc; claw_ipc.send_message('sent from the sandbox')")
    chat.expect(claw_says("sent from the sandbox"), timeout=60)
    # And the offline model says which reminder forms it knows instead of echoing a near miss
    chat.sendline("remind me tomorrow at 9")
    chat.expect(re.escape("[claw] I did not understand 'remind me tomorrow at 9'"))
    chat.expect_exact("remind me in <N> minutes|hours to <something>")
    chat.sendline("exit")
    chat.expect(pexpect.EOF)


def _stream(stack: ClawStack, group_id: str, events: list[tuple[str, str, dict[str, Any]]],
            opened: threading.Event, last_event_id: str | None = None) -> None:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with httpx.Client(base_url=str(stack.http.base_url), headers=stack.http.headers, timeout=60) as client:
        try:
            with connect_sse(client, "GET", f"/v1/groups/{group_id}/events", headers=headers) as source:
                for event in source.iter_sse():
                    if not opened.is_set():
                        events.append(("opened", event.id, {}))
                        opened.set()
                    if event.event == "reply":
                        events.append(("reply", event.id, json.loads(event.data)))
        except httpx.HTTPError:
            events.append(("cut", "", {}))
        events.append(("ended", "", {}))


def test_shutdown_with_an_open_stream_is_prompt_and_a_reconnect_gets_what_was_missed(stack: ClawStack) -> None:
    # Given an open event stream and an open claw chat on a group
    post_terminal(stack, "ops", "before", sender="lou")
    events: list[tuple[str, str, dict[str, Any]]] = []
    opened = threading.Event()
    listener = threading.Thread(target=_stream, args=(stack, "terminal:ops", events, opened), daemon=True)
    listener.start()
    assert opened.wait(10)
    chat = open_chat(stack, "ops")
    chat.expect_exact("max> ")
    cursor = events[0][1]
    assert cursor

    # When the stack is stopped
    started = time.monotonic()
    assert stack.stop() == 0
    took = time.monotonic() - started
    # Then it stops without waiting for the streams to time out, and the streams end
    log = stack.log_path.read_text(errors="replace")
    assert "did not stop" not in log, log[-3000:]
    # (an API held by its streams is killed after its 10 s stop grace; this stack stops in ~5 s)
    assert took < 10, f"claw up took {took:.1f}s to stop"
    listener.join(10)
    assert events[-1][0] == "ended"
    chat.expect_exact("(lost the connection to claw; reconnecting…)")

    # And a line typed while it is down is kept trying, said in one line, not a traceback
    chat.sendline("while down")
    chat.expect_exact("cannot reach claw (restarting?); trying again for 60 s")
    # When the stack is back
    restart = threading.Thread(target=stack.start, daemon=True)
    restart.start()
    # Then the line goes through and its answer is shown, and the stream reconnected by itself
    expect_all(chat, [re.escape("sent"), claw_says("max: while down"),
                      re.escape("(connected to claw again)")], timeout=120)
    restart.join(60)
    assert "Traceback" not in chat.before
    # And the typing indicator works after the restart
    chat.sendline("after restart")
    chat.expect_exact("claw is typing…")
    chat.expect(claw_says("max: after restart"))
    chat.sendline("quit")
    chat.expect(pexpect.EOF)

    # And a stream reconnecting with the last id it saw gets what was delivered meanwhile
    resumed: list[tuple[str, str, dict[str, Any]]] = []
    reopened = threading.Event()
    threading.Thread(target=_stream, args=(stack, "terminal:ops", resumed, reopened, cursor),
                     daemon=True).start()
    wait_until(lambda: sum(1 for kind, *_ in resumed if kind == "reply") >= 2, 20, "the missed replies")
    texts = [data["text"] for kind, _, data in resumed if kind == "reply"]
    assert texts[:2] == ["max: while down", "max: after restart"]
    reply = next(data for kind, _, data in resumed if kind == "reply")
    assert reply["kind"] == "chat" and reply["answers_upto_id"] > 0 and reply["outbox_id"] > 0
    # while one without an id starts from now
    fresh: list[tuple[str, str, dict[str, Any]]] = []
    fresh_opened = threading.Event()
    threading.Thread(target=_stream, args=(stack, "terminal:ops", fresh, fresh_opened), daemon=True).start()
    assert fresh_opened.wait(10)
    time.sleep(1)
    assert [kind for kind, *_ in fresh] == ["opened"]

"""No group is ever stuck (issue 9 §1), on the real stack: a turn that crashes, is killed, runs
out of time or meets a model outage backs off and tells the group once; a batch that keeps
failing is set aside, listed and put back; a backlog too big for one turn is trimmed visibly.

Failures are injected with fault points scoped to one group each
(``turn.before_agent@<group>``), so one stack serves every test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from claw.db import write_session
from claw.pipeline.inbox import IncomingMessage, store_message
from tests.support.fake_anthropic import FakeAnthropic, FakeResponse, reply_error, reply_text
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

TURN_TIME_LIMIT = 10  #: so the soft limit (8 s) is reached by a sleeping fault point
SOFT_LIMIT = 8
FAULTS = ",".join([
    "turn.before_agent@http:flaky:raise-first-2",
    "turn.before_agent@http:poison:raise-first-3",
    "turn.before_agent@http:killed:kill-once",
    f"turn.before_agent@http:slow:sleep-{SOFT_LIMIT + 4}-once",
    "turn.after_commit@http:acked:kill-once",
])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"),
        redis_server.url,
        shards=2,
        cooldown=0,
        llm_retry_delay=1,
        turn_max_attempts=3,
        lease_seconds=3,
        turn_time_limit=TURN_TIME_LIMIT,
        sandbox_wall_seconds=5,
        pending_max_messages=50,
        fault_points=FAULTS,
    ) as claw:
        yield claw


# ---- helpers ------------------------------------------------------------------------------


def notices(stack: ClawStack, group_id: str) -> list[str]:
    return [m["text"] for m in stack.messages(group_id) if m["kind"] == "notice"]


def chat_replies(stack: ClawStack, group_id: str) -> list[str]:
    return [m["text"] for m in stack.messages(group_id)
            if m["role"] == "assistant" and m["kind"] == "chat"]


def log_count(stack: ClawStack, pattern: str) -> int:
    return len(re.findall(pattern, stack.log_path.read_text(errors="replace")))


def claw_cli(stack: ClawStack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "claw.cli", *args], env=stack.env,
                          cwd=stack.home, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def store_backlog(stack: ClawStack, chat_id: str, texts: list[str]) -> None:
    """Messages a long outage left pending, stored by claw's own inbox into the stack's
    database, for the sweeper to find (as it does after an outage)."""
    url = f"sqlite:///{stack.home / 'claw.db'}"
    start = datetime.now(timezone.utc) - timedelta(minutes=10)
    with write_session(url) as session:
        for i, text in enumerate(texts):
            store_message(session, IncomingMessage("http", chat_id, "gus", text, None,
                                                   start + timedelta(seconds=i)))


def answered_by(stack: ClawStack, group_id: str) -> set[Any]:
    return {m["answered_by"] for m in stack.messages(group_id) if m["role"] == "user"}


# ---- a model outage (first: its own stack, before the module stack starts) -------------------


class Outage:
    """Every model request fails with 529 while on; records when each one came."""

    def __init__(self) -> None:
        self.on = True
        self.failed_at: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> FakeResponse:
        with self.lock:
            self.failed_at.append(time.monotonic())
        return reply_error(529, "overloaded_error", "Overloaded")


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


def test_a_model_outage_gives_one_notice_and_one_retry_chain(
    tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis, anthropic: FakeAnthropic
) -> None:
    group = "http:outage"
    outage = Outage()
    anthropic.otherwise = outage
    with ClawStack(
        tmp_path_factory.mktemp("claw-outage"), redis_server.url, shards=1, cooldown=0,
        llm="anthropic", llm_max_retries=0, llm_timeout=5, llm_retry_delay=1,
        extra_env={"ANTHROPIC_API_KEY": "sk-ant-test-0123456789abcdef",
                   "ANTHROPIC_BASE_URL": anthropic.url},
    ) as stack:
        # Given the model is down when a message arrives
        stack.post("outage", "first", sender="kim")
        wait_until(lambda: notices(stack, group), 30, "the outage notice")
        # When ten more messages arrive during the outage
        for i in range(10):
            stack.post("outage", f"more {i}", sender="kim")
            time.sleep(0.4)
        # And the model comes back
        anthropic.otherwise = None
        failed_at = list(outage.failed_at)
        # Then all eleven are answered by one reply
        stack.wait_answered(group, 11, timeout=60)
        time.sleep(2)
        assert chat_replies(stack, group) == ["ok"]
        assert len(answered_by(stack, group)) == 1
        # And the group was told once, and only one retry chain asked the model: its tries
        # came one backoff apart (1 s, 2 s, 4 s …), not once per message
        [notice] = notices(stack, group)
        assert notice.startswith("Sorry, I can't reach the model right now (")
        gaps = [b - a for a, b in zip(failed_at, failed_at[1:])]
        assert len(failed_at) >= 2, failed_at
        assert all(gap >= 0.9 * 2**i for i, gap in enumerate(gaps)), gaps
        assert log_count(stack, r"turn_failed group=http:outage kind=outage") == len(failed_at)


def test_a_message_the_model_api_keeps_failing_while_others_are_answered_is_set_aside(
    tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis, anthropic: FakeAnthropic
) -> None:
    """A request the API fails with a 5xx every time because of what is in it looks like an
    outage, which never sets anything aside: the group was blocked for good, backing off up to
    ten minutes between tries, while the model answered every other group."""

    def poisoned(body: dict[str, Any]) -> FakeResponse:
        if "POISON" in json.dumps(body):
            return reply_error(500, "api_error", "Internal server error")
        return reply_text("ok")

    anthropic.otherwise = poisoned
    stop = threading.Event()
    try:
        with ClawStack(
            tmp_path_factory.mktemp("claw-poison"), redis_server.url, shards=2, cooldown=0,
            llm="anthropic", llm_max_retries=0, llm_timeout=5, llm_retry_delay=1,
            turn_max_attempts=3, turn_give_up_after=3,
            extra_env={"ANTHROPIC_API_KEY": "sk-ant-test-0123456789abcdef",
                       "ANTHROPIC_BASE_URL": anthropic.url},
        ) as stack:
            def others() -> None:  # the model keeps answering another group meanwhile
                while not stop.wait(0.7):
                    stack.post("healthy", "hi there")

            helper = threading.Thread(target=others, daemon=True)
            helper.start()
            # Given a message the model API fails on, every time
            stack.post("poisoned", "POISON pill", sender="eve")
            # When the group's retries keep failing while the model answers others
            failed = wait_until(
                lambda: stack.http.get("/v1/groups/http:poisoned/failed").json()["messages"],
                60, "the poisoned message set aside")
            # Then it is set aside, and the group answers what comes next
            assert [m["text"] for m in failed] == ["POISON pill"]
            stack.post("poisoned", "are you there?", sender="kim")
            stack.wait_answered("http:poisoned", 1, timeout=30)
            assert chat_replies(stack, "http:poisoned") == ["ok"]
            stop.set()
            helper.join(10)
    finally:
        stop.set()
        anthropic.otherwise = None


# ---- an exception in a turn -----------------------------------------------------------------


def test_an_exception_in_a_turn_is_told_once_backs_off_and_recovers(stack: ClawStack) -> None:
    group = "http:flaky"
    # Given the turns of a group crash twice (any exception, not only a model error)
    stack.post("flaky", "hello?", sender="dan")
    # Then the group hears about it once, and is answered when the fault clears
    stack.wait_answered(group, 1, timeout=60)
    [notice] = notices(stack, group)
    assert notice.startswith("Sorry, something went wrong while answering (FaultInjected: ")
    assert "Your message is kept and I'll try again in 1 s." in notice
    assert chat_replies(stack, group) == ["dan: hello?"]
    # And the retries backed off (1 s, then 2 s) instead of looping through the sweeper
    rows = stack.messages(group)
    told = datetime.fromisoformat(rows[1]["created_at"])
    answered = datetime.fromisoformat(rows[2]["created_at"])
    assert answered - told >= timedelta(seconds=2.5)
    assert log_count(stack, r"fault_point name=turn\.before_agent@http:flaky ") == 2
    assert log_count(stack, r"turn_failed group=http:flaky kind=error") == 2
    time.sleep(2)  # a tight loop or a second chain would show up now
    assert log_count(stack, r"turn_failed group=http:flaky ") == 2
    assert chat_replies(stack, group) == ["dan: hello?"]


# ---- a batch that keeps failing -------------------------------------------------------------


def test_a_batch_that_keeps_failing_is_set_aside_listed_and_put_back(stack: ClawStack) -> None:
    group = "http:poison"
    # Given a message whose turn fails three times (turn_max_attempts)
    stack.post("poison", "poison pill", sender="eve")
    # Then it is set aside, and the group is told which message and why
    set_aside = wait_until(
        lambda: [n for n in notices(stack, group) if "set it aside" in n], 60, "the set-aside notice")
    assert set_aside[0].startswith(
        "Sorry, I couldn't handle your message (eve: \"poison pill\") after 3 attempts (error: "
        "FaultInjected: turn.before_agent@http:poison)")
    assert "`claw groups retry http:poison`" in set_aside[0]
    assert len(notices(stack, group)) == 2  # the first failure's notice, and this one
    # When a later message arrives, it is answered
    stack.post("poison", "anyone there?", sender="eve")
    stack.wait_answered(group, 1, timeout=30)
    assert chat_replies(stack, group) == ["eve: anyone there?"]
    # And the API and `claw groups failed` list the set-aside message with the reason
    [failed] = stack.http.get(f"/v1/groups/{group}/failed").json()["messages"]
    assert (failed["text"], failed["sender"]) == ("poison pill", "eve")
    assert failed["set_aside_reason"] == "error: FaultInjected: turn.before_agent@http:poison"
    assert "claw_messages_set_aside 1.0" in stack.http.get("/metrics").text
    listed = claw_cli(stack, "groups", "failed", group)
    assert "eve: poison pill" in listed and "FaultInjected" in listed
    # When it is retried
    assert "1 message(s) put back" in claw_cli(stack, "groups", "retry", group)
    # Then it is answered, exactly once, and nothing is set aside any more
    stack.wait_answered(group, 2, timeout=30)
    time.sleep(2)
    assert chat_replies(stack, group) == ["eve: anyone there?", "eve: poison pill"]
    assert stack.http.get(f"/v1/groups/{group}/failed").json()["messages"] == []
    assert "no set-aside messages" in claw_cli(stack, "groups", "failed", group)
    # And an unknown group is a clear 404
    assert stack.http.get("/v1/groups/http:nobody/failed").status_code == 404
    assert stack.http.post("/v1/groups/http:nobody/failed/retry").status_code == 404


# ---- time limits and kills ------------------------------------------------------------------


def test_a_turn_over_its_soft_time_limit_apologises_and_is_answered_later(stack: ClawStack) -> None:
    group = "http:slow"
    # Given a turn that takes longer than the soft time limit (once)
    stack.post("slow", "take your time", sender="hal")
    # Then the group gets a short apology, then the answer
    stack.wait_answered(group, 1, timeout=60)
    assert notices(stack, group) == [
        f"Sorry, that took too long and I had to stop (over the {SOFT_LIMIT} s time limit of a "
        "turn). Your message is kept and I'll try again in 1 s."
    ]
    assert chat_replies(stack, group) == ["hal: take your time"]


def test_a_hard_killed_turn_counts_as_a_failure_and_is_answered_once(stack: ClawStack) -> None:
    group = "http:killed"
    # Given the process running a turn is killed outright (SIGKILL, once)
    stack.post("killed", "still there?", sender="ivy")
    # Then the next turn counts it as a failure: the group is told, and answered once
    stack.wait_answered(group, 1, timeout=90)
    assert log_count(stack, r"turn_failed group=http:killed kind=interrupted") == 1
    assert notices(stack, group) == [
        "Sorry, my answer was interrupted (the process running it stopped). Your message is "
        "kept and I'll try again in 2 s."  # CLAW_INTERRUPTED_RETRY_DELAY, not the model's delay
    ]
    time.sleep(3)
    assert chat_replies(stack, group) == ["ivy: still there?"]


def test_a_turn_killed_after_its_commit_runs_again_and_still_replies_once(stack: ClawStack) -> None:
    group = "http:acked"
    # Given the process running a turn is killed right after the reply's commit, before the
    # task is acknowledged (a fault point, not a lucky sleep)
    stack.post("acked", "one answer, please", sender="jo")
    stack.wait_answered(group, 1, timeout=90)
    wait_until(lambda: log_count(stack, r"fault_point name=turn.after_commit@http:acked action=kill") == 1,
               30, "the kill after the commit")
    # Then the restarted worker put the killed turn back, saying so (claw/runtime/orphans.py)
    wait_until(lambda: log_count(stack, r"orphans_restored queues=\['claw\.shard\.\d+'\] messages=1") == 1,
               60, "the killed turn put back")
    # And the turn really ran again and found its reply committed
    wait_until(lambda: log_count(stack, r"turn_redone_after_commit group=http:acked ") == 1, 90,
               "the redone turn")
    assert log_count(stack, r"turn_began group=http:acked ") == 1  # the model was asked once
    # And the committed reply was sent (by the sweeper: the dead turn never handed it over),
    # once, with no notice of a failure
    wait_until(lambda: [r["status"] for r in stack.sql(
        "SELECT status FROM outbox WHERE group_id = ?", group)] == ["sent"], 90, "the reply sent")
    assert chat_replies(stack, group) == ["jo: one answer, please"]
    assert notices(stack, group) == []
    assert log_count(stack, r"turn_failed group=http:acked ") == 0


# ---- a backlog too big for one turn ---------------------------------------------------------


def test_a_200_message_backlog_is_answered_with_a_trim_marker(stack: ClawStack) -> None:
    group = "http:backlog"
    # Given 200 messages a long outage left pending (a turn shows the model at most 50)
    store_backlog(stack, "backlog", [f"note {i}" for i in range(200)])
    # When the sweeper finds the group, one reply answers all 200, with the marker
    stack.wait_answered(group, 200, timeout=60)
    [reply] = chat_replies(stack, group)
    assert "claw: [… 150 earlier messages / " in reply
    assert reply.endswith("\n".join(f"gus: note {i}" for i in range(150, 200)))
    assert len(answered_by(stack, group)) == 1


def test_one_200_kb_pending_message_is_answered_with_a_trim_marker(
    stack: ClawStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claw.config import get_settings

    group = "http:huge"
    # stored as before ingest caps existed (today the API refuses it and polls cut it at 16,000)
    monkeypatch.setenv("CLAW_API_MAX_TEXT", "300000")
    get_settings.cache_clear()
    try:
        store_backlog(stack, "huge", ["A" * 100_000 + "Z" * 100_000])
    finally:
        monkeypatch.delenv("CLAW_API_MAX_TEXT")
        get_settings.cache_clear()
    stack.wait_answered(group, 1, timeout=60)
    [reply] = chat_replies(stack, group)
    assert reply.split("\n")[-1].startswith("gus: AAAA") and reply.endswith("ZZZZ")
    assert "characters trimmed …]" in reply and len(reply) < 50_000

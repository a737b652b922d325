"""WhatsApp through a bridge, polled by beat: a fake bridge HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.fake_bridge import FakeBridge
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

POLL_INTERVAL = 0.5
STUCK_SEND_SECONDS = 4
KILLED_SEND_CHAT = "killed-send@g.us"


@pytest.fixture(scope="module")
def bridge() -> Iterator[FakeBridge]:
    fake = FakeBridge().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis, bridge: FakeBridge
) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"),
        redis_server.url,
        shards=2,
        cooldown=0.3,
        poll_interval=POLL_INTERVAL,
        whatsapp_bridge_url=bridge.url,
        stuck_send_seconds=STUCK_SEND_SECONDS,
        sweep_interval=1,
        fault_points=f"send.before_part@whatsapp:{KILLED_SEND_CHAT}:kill-once",
    ) as claw:
        yield claw


def test_bridge_messages_are_answered_through_the_bridge(stack: ClawStack, bridge: FakeBridge) -> None:
    # Given two people writing in a WhatsApp group
    bridge.add("123@g.us", "Ann", "good morning")
    bridge.add("123@g.us", "Ben", "morning!")
    # Then claw replies once, through the bridge's /send, answering both in order
    sent = wait_until(lambda: bridge.sent_to("123@g.us"), 30, "a reply through the bridge")
    assert sent == ["Ann: good morning\nBen: morning!"]
    # And the conversation is stored under the group whatsapp:<chat_id>
    texts = [m["text"] for m in stack.messages("whatsapp:123@g.us")]
    assert texts == ["good morning", "morning!", "Ann: good morning\nBen: morning!"]


@pytest.mark.parametrize("failure", ["down", "garbage", "wrong-shape"])
def test_a_failing_bridge_skips_nothing_and_duplicates_nothing(
    stack: ClawStack, bridge: FakeBridge, failure: str
) -> None:
    chat = f"{failure}@g.us"
    # Given a bridge that fails for a while, with a message already waiting behind it
    bridge.mode = failure
    bridge.add(chat, "Cid", f"are you there? ({failure})")
    polls_before = bridge.polls
    wait_until(lambda: bridge.polls >= polls_before + 3, 20, "claw to keep polling a failing bridge")
    assert bridge.sent_to(chat) == []
    # When the bridge recovers
    bridge.mode = "ok"
    bridge.add(chat, "Cid", "hello?")
    # Then both messages are answered, each exactly once, and delivered
    wait_until(lambda: "\n".join(bridge.sent_to(chat)).count("Cid:") >= 2, 30, "replies after recovery")
    time.sleep(POLL_INTERVAL * 4)  # a few more polls must not bring anything twice
    lines = [line for text in bridge.sent_to(chat) for line in text.splitlines()]
    assert lines == [f"Cid: are you there? ({failure})", "Cid: hello?"]
    users = [m for m in stack.messages(f"whatsapp:{chat}") if m["role"] == "user"]
    assert len(users) == 2


def test_a_reply_the_bridge_refuses_is_delivered_once_it_recovers(
    stack: ClawStack, bridge: FakeBridge
) -> None:
    # Given a bridge that delivers messages to claw but refuses to take replies
    bridge.refuse_sends = True
    bridge.add("retry@g.us", "Dee", "ping")
    failed = wait_until(
        lambda: stack.sql(
            "SELECT attempts, last_error FROM outbox "
            "WHERE group_id='whatsapp:retry@g.us' AND attempts >= 2 AND status = 'pending'"
        ),
        30, "two failed delivery attempts",
    )
    assert "DeliveryError" in failed[0]["last_error"]
    assert bridge.sent_to("retry@g.us") == []
    # When the bridge takes replies again
    bridge.refuse_sends = False
    # Then the reply is delivered, once
    wait_until(lambda: bridge.sent_to("retry@g.us"), 30, "the retried delivery")
    time.sleep(2)
    assert bridge.sent_to("retry@g.us") == ["Dee: ping"]


def test_an_io_worker_killed_during_a_send_delivers_the_reply_once(stack: ClawStack, bridge: FakeBridge) -> None:
    # Given the io worker's process is killed as it is about to hand a reply to the bridge
    bridge.add(KILLED_SEND_CHAT, "Eve", "are you still there?")
    wait_until(lambda: f"fault_point name=send.before_part@whatsapp:{KILLED_SEND_CHAT} action=kill"
               in stack.log_path.read_text(errors="replace"), 30, "the kill during the send")
    # Then the reply, left claimed by the dead sender, is handed out again after
    # CLAW_STUCK_SEND_SECONDS and delivered
    wait_until(lambda: bridge.sent_to(KILLED_SEND_CHAT), 60, "the reply after the kill")
    wait_until(lambda: [r["status"] for r in stack.sql(
        "SELECT status FROM outbox WHERE group_id = ?", f"whatsapp:{KILLED_SEND_CHAT}")] == ["sent"],
        30, "the reply marked sent")
    # And only once, however often the sweeper looks again
    time.sleep(STUCK_SEND_SECONDS + 2)
    assert bridge.sent_to(KILLED_SEND_CHAT) == ["Eve: are you still there?"]

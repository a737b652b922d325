"""WhatsApp through a bridge, polled by beat: a fake bridge HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.fake_bridge import FakeBridge
from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

POLL_INTERVAL = 0.5


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

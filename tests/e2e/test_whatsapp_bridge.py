"""WhatsApp through a bridge, polled by beat: a fake bridge HTTP server on 127.0.0.1, speaking
claw's protocol (ids, a cursor) and, in the tests that say so, the setup tutorial's (neither)."""

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


@pytest.fixture
def tutorial_bridge(bridge: FakeBridge) -> Iterator[FakeBridge]:
    """The same bridge speaking as the tutorial's does, for one test (the stack is shared)."""
    bridge.shape = "tutorial"
    try:
        yield bridge
    finally:
        bridge.shape = "cursor"


def wait_for_polls(bridge: FakeBridge, count: int) -> None:
    """Until claw has polled ``count`` more times: what was handed out has been read."""
    start = bridge.polls
    wait_until(lambda: bridge.polls >= start + count, 20, f"{count} more polls")


def test_the_tutorials_bridge_is_answered_once_per_message_and_never_answers_itself(
    stack: ClawStack, tutorial_bridge: FakeBridge
) -> None:
    bridge, chat = tutorial_bridge, "tutorial@g.us"
    # Given two people writing through the tutorial's bridge (no ids, no cursor)
    bridge.add_tutorial(chat, "Ann", "good morning", timestamp=1_700_100_000)
    bridge.add_tutorial(chat, "Ben", "morning!", timestamp=1_700_100_005)
    # Then claw answers once, through /send's "message" field (the only one that bridge reads)
    sent = wait_until(lambda: bridge.sent_to(chat), 30, "a reply through the tutorial's bridge")
    assert sent == ["Ann: good morning\nBen: morning!"]
    assert bridge.sent[-1]["message"] == sent[0]

    # When the bridge shows claw's own reply back as a message of the chat, and restarts,
    # handing both messages out again
    bridge.add_tutorial(chat, "me", sent[0], timestamp=1_700_100_010, is_from_me=True)
    bridge.hand_out_again(3)
    wait_for_polls(bridge, 3)
    # And Ann says the same words again, later
    bridge.add_tutorial(chat, "Ann", "good morning", timestamp=1_700_100_600)

    # Then only the new message is answered: no echo of claw itself, no repeat of the first two
    wait_until(lambda: len(bridge.sent_to(chat)) >= 2, 30, "the reply to the repeated words")
    wait_for_polls(bridge, 3)
    assert bridge.sent_to(chat) == ["Ann: good morning\nBen: morning!", "Ann: good morning"]
    users = [m["text"] for m in stack.messages(f"whatsapp:{chat}") if m["role"] == "user"]
    assert users == ["good morning", "morning!", "good morning"]


def test_the_bots_own_messages_on_claws_bridge_are_not_answered(stack: ClawStack, bridge: FakeBridge) -> None:
    chat = "own@g.us"
    # Given the bot's own message next to a person's, flagged as the bridge does
    bridge.add_raw({"id": "own-1", "chat_id": chat, "sender": "me", "text": "claw said this",
                    "from_me": True})
    bridge.add(chat, "Cat", "hello claw")
    # Then only the person is answered, and the bot's message is not stored
    wait_until(lambda: bridge.sent_to(chat), 30, "a reply to the person")
    wait_for_polls(bridge, 3)
    assert bridge.sent_to(chat) == ["Cat: hello claw"]
    assert [m["text"] for m in stack.messages(f"whatsapp:{chat}") if m["role"] == "user"] == ["hello claw"]


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

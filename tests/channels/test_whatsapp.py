"""claw.channels.whatsapp: polling and delivering through a WhatsApp bridge over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from claw.bench.processes import free_port
from claw.channels import DeliveryError, PollError
from claw.channels.whatsapp import WhatsAppBridge
from claw.pipeline.inbox import IncomingMessage
from tests.support.fake_bridge import FakeBridge


@pytest.fixture(scope="module")
def running_bridge() -> Iterator[FakeBridge]:
    fake = FakeBridge().start()
    yield fake
    fake.stop()  # takes up to half a second, so one server serves the whole module


@pytest.fixture
def bridge(running_bridge: FakeBridge) -> FakeBridge:
    """The bridge, emptied and healthy again for each test."""
    running_bridge.reset()
    return running_bridge


def test_fetch_turns_the_bridges_messages_into_incoming_messages(bridge: FakeBridge) -> None:
    # Given two messages waiting at the bridge
    bridge.add("123@g.us", "Alice", "hello", "wamid.A")
    bridge.add("456@g.us", "Bob", "hi there", "wamid.B")

    # When claw polls from the start
    batch = WhatsAppBridge(bridge.url).fetch("")

    # Then it gets both, in order, keyed by the bridge's ids, and the bridge's cursor
    assert batch.messages == [
        IncomingMessage("whatsapp", "123@g.us", "Alice", "hello", "wamid.A"),
        IncomingMessage("whatsapp", "456@g.us", "Bob", "hi there", "wamid.B"),
    ]
    assert batch.cursor == "2"
    # And arrival time (not the phone's clock) will be used
    assert all(m.created_at is None for m in batch.messages)
    assert [m.group_id for m in batch.messages] == ["whatsapp:123@g.us", "whatsapp:456@g.us"]


def test_fetch_sends_the_cursor_and_gets_only_newer_messages(bridge: FakeBridge) -> None:
    channel = WhatsAppBridge(bridge.url + "/")  # a trailing slash in the setting is fine
    bridge.add("123@g.us", "Alice", "one")
    first = channel.fetch("")

    # When nothing new arrived, the same cursor comes back with no messages
    assert channel.fetch(first.cursor).messages == []
    assert channel.fetch(first.cursor).cursor == first.cursor == "1"

    # When a message arrives, only it is returned after the cursor
    bridge.add("123@g.us", "Bob", "two")
    second = channel.fetch(first.cursor)
    assert [(m.sender, m.text) for m in second.messages] == [("Bob", "two")]
    assert second.cursor == "2"


def test_allowlist_keeps_only_allowed_chats_but_still_advances(bridge: FakeBridge) -> None:
    # Given messages from an allowed chat and a stranger's chat
    bridge.add("123@g.us", "Alice", "in")
    bridge.add("999@g.us", "Mallory", "out")
    bridge.add("123@g.us", "Bob", "in too")

    # When claw polls with an allowlist
    batch = WhatsAppBridge(bridge.url, allowed_chats={"123@g.us"}).fetch("")

    # Then only the allowed chat's messages come through, and the cursor passes them all
    assert [(m.chat_id, m.text) for m in batch.messages] == [("123@g.us", "in"),
                                                            ("123@g.us", "in too")]
    assert batch.cursor == "3"


def test_media_becomes_a_placeholder_and_a_broken_item_is_skipped_not_the_page(bridge: FakeBridge) -> None:
    # Given a voice note, a photo with a caption, an item without a chat id, and a text
    bridge.add_raw({"id": "v", "chat_id": "1@g.us", "sender": "Ann", "type": "ptt"})
    bridge.add_raw({"id": "p", "chat_id": "1@g.us", "sender": "Ann", "type": "image",
                    "caption": "our cat"})
    bridge.add_raw({"id": "x", "sender": "Ann", "text": "where to?"})
    bridge.add("1@g.us", "Ben", "hi", "t")

    batch = WhatsAppBridge(bridge.url).fetch("")

    assert [(m.external_id, m.text) for m in batch.messages] == [
        ("v", "[voice message]"), ("p", "our cat"), ("t", "hi")]
    assert batch.cursor == "4"
    assert [(n.action, n.reason) for n in batch.notes] == [
        ("placeholder", "media:voice message"), ("skipped", "no_chat_id")]


def test_a_refused_send_carries_the_bridges_retry_after(bridge: FakeBridge) -> None:
    bridge.refuse_sends, bridge.retry_after = True, 7

    with pytest.raises(DeliveryError) as caught:
        WhatsAppBridge(bridge.url).deliver("1@g.us", "hello")

    assert (caught.value.retry_after, caught.value.permanent) == (7, False)


def test_an_empty_allowlist_allows_every_chat(bridge: FakeBridge) -> None:
    bridge.add("1@g.us", "a", "x")
    bridge.add("2@g.us", "b", "y")

    assert len(WhatsAppBridge(bridge.url, allowed_chats=set()).fetch("").messages) == 2


@pytest.mark.parametrize("mode", ["down", "garbage", "wrong-shape"])
def test_a_failing_bridge_raises_poll_error(bridge: FakeBridge, mode: str) -> None:
    # Given a bridge answering HTTP 500, non-JSON, or JSON of the wrong shape
    bridge.add("123@g.us", "Alice", "hello")
    bridge.mode = mode

    # When claw polls, it raises PollError (so the cursor is not advanced) instead of skipping
    with pytest.raises(PollError):
        WhatsAppBridge(bridge.url).fetch("")
    assert bridge.polls == 1


def test_an_unreachable_bridge_raises_poll_error() -> None:
    with pytest.raises(PollError):
        WhatsAppBridge(f"http://127.0.0.1:{free_port()}").fetch("")


def test_deliver_posts_the_text_as_message_and_as_text(bridge: FakeBridge) -> None:
    channel = WhatsAppBridge(bridge.url)

    channel.deliver("123@g.us", "Alice: hello\nBob: hi")
    channel.deliver("456@g.us", "second")

    # both field names: the tutorial's bridge reads "message", claw's protocol "text"
    assert bridge.sent == [
        {"chat_id": "123@g.us", "message": "Alice: hello\nBob: hi", "text": "Alice: hello\nBob: hi"},
        {"chat_id": "456@g.us", "message": "second", "text": "second"},
    ]


# ---- the tutorial's bridge: no ids, no cursor ------------------------------------------------


def test_the_tutorial_bridges_page_becomes_messages_and_keeps_claws_cursor(bridge: FakeBridge) -> None:
    # Given the tutorial's bridge with two messages, one of them the same words again later
    bridge.shape = "tutorial"
    bridge.add_tutorial("123@g.us", "Alice", "hello", timestamp=1_700_000_000)
    bridge.add_tutorial("123@g.us", "Alice", "hello", timestamp=1_700_000_060)

    # When claw polls it with the cursor it had
    batch = WhatsAppBridge(bridge.url).fetch("41")

    # Then both are messages of the chat, with ids of their own, and claw's cursor stays
    assert [(m.chat_id, m.sender, m.text) for m in batch.messages] == [
        ("123@g.us", "Alice", "hello"), ("123@g.us", "Alice", "hello")]
    first, second = (m.external_id for m in batch.messages)
    assert first != second and first.startswith("bridge-sha256:")
    assert batch.cursor == "41"
    # And the next poll brings nothing: that bridge hands out only what is new
    assert WhatsAppBridge(bridge.url).fetch("41").messages == []


def test_an_item_the_tutorial_bridge_hands_out_again_gets_the_same_id(bridge: FakeBridge) -> None:
    bridge.shape = "tutorial"
    bridge.add_tutorial("123@g.us", "Alice", "hello")
    channel = WhatsAppBridge(bridge.url)
    first = channel.fetch("").messages

    # When the bridge restarts and hands the same item out again
    bridge.hand_out_again(1)
    again = channel.fetch("").messages

    # Then it has the same id, so the store keeps one copy
    assert [m.external_id for m in again] == [m.external_id for m in first]


def test_the_bots_own_messages_are_ignored_in_either_shape(bridge: FakeBridge) -> None:
    # Given the bot's own replies coming back through the bridge, flagged either way
    bridge.add_raw({"id": "a", "chat_id": "1@g.us", "sender": "me", "text": "my reply", "from_me": True})
    bridge.add_raw({"id": "b", "chat_id": "1@g.us", "sender": "me", "text": "mine", "is_from_me": "true"})
    bridge.add("1@g.us", "Ann", "a person", "c")
    cursor_batch = WhatsAppBridge(bridge.url).fetch("")
    bridge.shape = "tutorial"
    bridge.add_tutorial("1@g.us", "me", "my reply", is_from_me=True)
    bridge.add_tutorial("1@g.us", "Ann", "a person", is_from_me=False)
    tutorial_batch = WhatsAppBridge(bridge.url).fetch("")

    # Then only the person's messages come through; the others are noted as ignored
    assert [m.text for m in cursor_batch.messages] == ["a person"]
    assert [m.text for m in tutorial_batch.messages] == ["a person"]
    assert [(n.action, n.reason) for n in cursor_batch.notes + tutorial_batch.notes] == [
        ("ignored", "from_me")] * 3


def test_the_tutorial_bridge_takes_a_reply_in_its_message_field(bridge: FakeBridge) -> None:
    bridge.shape = "tutorial"  # answers 400 to a /send without "message"

    WhatsAppBridge(bridge.url).deliver("123@g.us", "hello")

    assert bridge.sent_to("123@g.us") == ["hello"]


def test_deliver_raises_delivery_error_on_a_5xx(bridge: FakeBridge) -> None:
    bridge.mode = "down"  # POST /send answers 503

    with pytest.raises(DeliveryError):
        WhatsAppBridge(bridge.url).deliver("123@g.us", "hello")
    assert bridge.sent == []


def test_deliver_to_an_unreachable_bridge_raises_delivery_error() -> None:
    with pytest.raises(DeliveryError):
        WhatsAppBridge(f"http://127.0.0.1:{free_port()}").deliver("123@g.us", "hello")


def test_the_channel_is_named_whatsapp() -> None:
    assert WhatsAppBridge("http://127.0.0.1:1").name == "whatsapp"

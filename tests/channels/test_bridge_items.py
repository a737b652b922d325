"""claw.channels.bridge_items: the items of a bridge's page, in claw's shape and the tutorial's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claw.channels.bridge_items import PageReader
from claw.pipeline.inbox import IncomingMessage


def read_page(*items: Any) -> tuple[list[IncomingMessage | None], list[tuple[str, str, str]]]:
    reader = PageReader("whatsapp")
    messages = [reader.read(item, position) for position, item in enumerate(items)]
    return messages, [(n.action, n.reason, n.ref) for n in reader.notes]


def tutorial(content: str = "hi", timestamp: Any = 1_700_000_000, **fields: Any) -> dict[str, Any]:
    return {"chat_jid": "123@g.us", "sender": "Ann", "content": content, "timestamp": timestamp, **fields}


def test_claws_shape_keeps_the_bridges_id() -> None:
    [message], notes = read_page({"id": "wamid.1", "chat_id": "1@g.us", "sender": "Ann", "text": "hi"})
    assert message == IncomingMessage("whatsapp", "1@g.us", "Ann", "hi", "wamid.1")
    assert notes == []


def test_the_tutorials_shape_is_read_from_its_own_field_names() -> None:
    [message], notes = read_page(tutorial("good morning"))
    assert message is not None
    assert (message.chat_id, message.sender, message.text) == ("123@g.us", "Ann", "good morning")
    assert message.external_id.startswith("bridge-sha256:")
    assert notes == []


def test_the_derived_id_is_the_same_for_the_same_item_in_another_poll() -> None:
    [first], _ = read_page(tutorial())
    [again], _ = read_page(tutorial())
    assert first is not None and again is not None
    assert first.external_id == again.external_id


@pytest.mark.parametrize(
    "change",
    [{"timestamp": 1_700_000_001}, {"content": "hi!"}, {"sender": "Ben"}, {"chat_jid": "456@g.us"},
     {"timestamp": "1700000000"}],  # "1700000000" and 1700000000 are the same key, see below
)
def test_the_derived_id_changes_with_each_field_that_makes_the_message(change: dict[str, Any]) -> None:
    [base], _ = read_page(tutorial())
    [other], _ = read_page({**tutorial(), **change})
    assert base is not None and other is not None
    if change == {"timestamp": "1700000000"}:
        assert other.external_id == base.external_id  # the same instant, however it is written
    else:
        assert other.external_id != base.external_id


def test_two_identical_items_in_one_page_are_two_messages() -> None:
    # The same words from the same person in the same second, twice in one page: a bridge that
    # hands out only what is new sent them twice because they were said twice
    (first, second), notes = read_page(tutorial("ok"), tutorial("ok"))
    assert first is not None and second is not None
    assert second.external_id == f"{first.external_id}#2"
    assert notes == []


def test_fields_cannot_run_into_each_other_to_collide() -> None:
    [a], _ = read_page(tutorial(sender="Ann", content="x y"))
    [b], _ = read_page(tutorial(sender="Ann x", content="y"))
    assert a is not None and b is not None and a.external_id != b.external_id


@pytest.mark.parametrize("flag", ["from_me", "is_from_me", "fromMe"])
@pytest.mark.parametrize("value", [True, 1, "true", "True", "1"])
def test_the_bots_own_messages_are_ignored(flag: str, value: Any) -> None:
    [message], notes = read_page(tutorial(**{flag: value}))
    assert message is None
    assert [(action, reason) for action, reason, _ in notes] == [("ignored", "from_me")]


@pytest.mark.parametrize("value", [False, 0, "false", None, "no"])
def test_a_false_own_flag_is_a_message(value: Any) -> None:
    [message], _ = read_page(tutorial(is_from_me=value))
    assert message is not None


def test_malformed_items_are_skipped_with_a_reason_and_the_rest_is_read() -> None:
    messages, notes = read_page(
        "not an object",
        {"chat_jid": "1@g.us", "sender": "Ann", "content": "no timestamp, no id"},
        {"sender": "Ann", "content": "no chat", "timestamp": 5},
        {"chat_jid": "1@g.us", "sender": "Ann", "content": None, "timestamp": 6},
        {"chat_jid": "1@g.us", "sender": "Ann", "timestamp": 7, "media_type": "image"},
        {"chat_jid": "1@g.us", "sender": "Ann", "content": "fine", "timestamp": True},
        tutorial("still read"),
    )
    assert [m.text if m else None for m in messages] == [None, None, None, "[media]", "[photo]", None,
                                                          "still read"]
    assert [(action, reason) for action, reason, _ in notes] == [
        ("skipped", "malformed"), ("skipped", "no_id"), ("skipped", "no_chat_id"),
        ("placeholder", "media:media"), ("placeholder", "media:photo"), ("skipped", "no_id")]
    # a note names the item by its place and id, never by its words
    assert not any("no timestamp" in ref or "fine" in ref for _, _, ref in notes)


def test_a_float_timestamp_and_an_iso_one_are_keys_too() -> None:
    (a, b), notes = read_page(tutorial(timestamp=1_700_000_000.25), tutorial(timestamp="2026-12-02T12:00:00Z"))
    assert a is not None and b is not None and notes == []


FIELDS = ["id", "chat_id", "chat_jid", "sender", "text", "content", "timestamp", "type", "media_type", "caption",
          "from_me", "is_from_me", "fromMe"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=4,
)
ITEMS = st.one_of(JSON, st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=len(FIELDS)))


@settings(max_examples=100, deadline=None)
@given(items=st.lists(ITEMS, max_size=6))
def test_any_page_reads_item_by_item_without_raising(items: list[Any]) -> None:
    # Given any page a bridge may send, whatever its items hold
    reader = PageReader("whatsapp")
    for position, item in enumerate(items):
        before = len(reader.notes)
        # When each item is read
        message = reader.read(item, position)
        # Then it is a message whose fields claw can store, or it is skipped or ignored with a note
        if message is None:
            assert reader.notes[-1].action in ("skipped", "ignored") and len(reader.notes) > before
        else:
            assert message.chat_id and message.text and message.sender and message.external_id
            assert len(message.external_id) <= 255


@pytest.mark.parametrize("chat", ["status@broadcast", "1700000000@broadcast", "120363111@newsletter",
                                  "STATUS@BROADCAST"])
def test_status_updates_broadcasts_and_channels_are_not_chats(chat: str) -> None:
    # A reply there (a pairing code first of all) would be posted to every contact or a channel
    messages, notes = read_page(tutorial(chat_jid=chat), {"id": "w1", "chat_id": chat, "sender": "Ann", "text": "hi"})
    assert messages == [None, None]
    assert [(action, reason) for action, reason, _ in notes] == [("ignored", "not_a_chat")] * 2


def test_one_to_one_and_group_chats_are_still_read() -> None:
    messages, notes = read_page(tutorial(chat_jid="15550001111@s.whatsapp.net"), tutorial(chat_jid="1@g.us"))
    assert all(m is not None for m in messages) and notes == []

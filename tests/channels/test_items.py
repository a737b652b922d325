"""claw.channels.items: one polled item becomes a storable message, or a note why not."""

from __future__ import annotations

import pytest

from claw.channels.items import MAX_TEXT, ItemNote, build_message, clean


def build(**fields: object) -> tuple[object, list[ItemNote]]:
    notes: list[ItemNote] = []
    values: dict[str, object] = {"external_id": "m1", "chat_id": "c1", "sender": "Ann",
                                 "text": "hello", "media": None, **fields}
    return build_message("whatsapp", ref="#0", notes=notes, **values), notes  # type: ignore[arg-type]


def test_a_good_item_is_kept_as_it_came_with_no_note() -> None:
    message, notes = build(chat_id=123, external_id=7)

    assert message is not None and notes == []
    assert (message.chat_id, message.external_id, message.sender, message.text) == ("123", "7", "Ann", "hello")  # type: ignore[attr-defined]
    assert message.created_at is None  # type: ignore[attr-defined]


def test_media_without_text_becomes_a_placeholder_and_with_text_keeps_it() -> None:
    photo, notes = build(text=None, media="photo")
    captioned, caption_notes = build(text="our cat", media="photo")

    assert photo.text == "[photo]"  # type: ignore[attr-defined]
    assert [(n.action, n.reason) for n in notes] == [("placeholder", "media:photo")]
    assert captioned.text == "our cat" and caption_notes == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("fields, reason", [
    ({"chat_id": None}, "no_chat_id"),
    ({"chat_id": "  "}, "no_chat_id"),
    ({"chat_id": ["a"]}, "no_chat_id"),
    ({"external_id": None}, "no_id"),
    ({"external_id": True}, "no_id"),
    ({"chat_id": "c\x00d"}, "bad_chat_id"),
    ({"chat_id": "x" * 300}, "bad_chat_id"),
    ({"text": "", "media": None}, "no_text"),
])
def test_an_item_without_what_a_message_needs_is_skipped_with_a_reason(
    fields: dict[str, object], reason: str
) -> None:
    message, notes = build(**fields)

    assert message is None
    assert notes == [ItemNote("whatsapp", "skipped", reason, "#0")]


def test_nul_and_lone_surrogates_are_cleaned_and_noted() -> None:
    message, notes = build(text="a\x00b\ud800c", sender="Ann\x00")

    assert message.text == "ab\ufffdc" and message.sender == "Ann"  # type: ignore[attr-defined]
    assert [(n.action, n.reason) for n in notes] == [("cleaned", "text"), ("cleaned", "sender")]
    # text that is fine (a real emoji) is left alone
    assert clean("ok \U0001F600") == ("ok \U0001F600", False)


def test_over_long_fields_are_cut_or_hashed_never_lost() -> None:
    message, notes = build(text="x" * (MAX_TEXT + 10), sender="s" * 1000, external_id="i" * 300)
    again, _ = build(external_id="i" * 300)

    assert len(message.text) == MAX_TEXT and message.text.endswith("[cut]")  # type: ignore[attr-defined]
    assert len(message.sender) == 255  # type: ignore[attr-defined]
    # a long id is replaced by its hash: the same item polled twice is still stored once
    assert message.external_id.startswith("sha256:") and message.external_id == again.external_id  # type: ignore[attr-defined]
    assert {(n.action, n.reason) for n in notes} == {
        ("cleaned", "external_id"), ("cut", "text_too_long"), ("cut", "sender_too_long")}

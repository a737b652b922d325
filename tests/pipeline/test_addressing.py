"""claw.pipeline.addressing: which messages address claw, and which chats are private."""

from __future__ import annotations

import pytest

from claw.pipeline.addressing import Respond, default_respond, is_addressed, is_private, mentions_trigger


@pytest.mark.parametrize("text", [
    "@claw what's the weather", "hey @claw", "hey @Claw, help", "@CLAW", "(@claw)", "ok @claw?",
    "line one\n@claw line two",
])
def test_the_trigger_word_addresses_claw_in_any_case(text: str) -> None:
    assert mentions_trigger(text, "@claw")


@pytest.mark.parametrize("text", [
    "claw is nice", "@clawbot hi", "@claw_fan hi", "mail me at x@claw", "email@claw.com",
    "@@claw", "", "c l a w",
])
def test_a_word_that_only_contains_the_trigger_does_not(text: str) -> None:
    assert not mentions_trigger(text, "@claw")


def test_the_trigger_is_a_setting_and_special_characters_are_literal() -> None:
    assert mentions_trigger("hi Andy!", "Andy")
    assert not mentions_trigger("hi Andyman", "Andy")
    assert mentions_trigger("a.b? please", "a.b?")
    assert not mentions_trigger("axb please", "a.b")


@pytest.mark.parametrize(("respond", "mentions_bot", "text", "expected"), [
    ("mention", False, "good morning all", False),
    ("mention", False, "good morning @claw", True),
    ("mention", True, "good morning", True),  # an @mention of the bot or a reply to it
    ("always", False, "good morning all", True),
])
def test_is_addressed(respond: str, mentions_bot: bool, text: str, expected: bool) -> None:
    assert is_addressed(text, respond=respond, mentions_bot=mentions_bot, trigger="@claw") is expected


@pytest.mark.parametrize(("channel", "chat_id", "private", "expected"), [
    ("telegram", "-100123", None, False),
    ("telegram", "4242", None, True),
    ("telegram", "-100123", True, True),  # the channel's own word wins
    ("whatsapp", "123@g.us", None, False),
    ("whatsapp", "49151@s.whatsapp.net", None, True),
    ("http", "team", None, True),
    ("terminal", "me", False, True),
    ("web", "page", None, True),
])
def test_is_private(channel: str, chat_id: str, private: bool | None, expected: bool) -> None:
    assert is_private(channel, chat_id, private) is expected


def test_only_group_chats_of_polled_channels_default_to_mention() -> None:
    assert default_respond("telegram", "-1", None, "mention") == Respond.MENTION
    assert default_respond("whatsapp", "1@g.us", None, "mention") == Respond.MENTION
    assert default_respond("whatsapp", "1@g.us", None, "always") == Respond.ALWAYS
    assert default_respond("telegram", "7", True, "mention") == Respond.ALWAYS
    assert default_respond("http", "team", None, "mention") == Respond.ALWAYS

"""claw.agent.offline: the deterministic model the whole system is tested with."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from claw.agent import ChatLine, TurnInput
from claw.agent.offline import OfflineProvider

T0 = datetime(2026, 3, 1, 14, 34, tzinfo=timezone.utc)


def user(sender: str, text: str, minute: int = 0) -> ChatLine:
    return ChatLine("user", sender, text, T0 + timedelta(minutes=minute))


def turn(new: list[ChatLine], history: list[ChatLine] | None = None) -> TurnInput:
    return TurnInput("http:team", "You are claw.", history or [], new)


def test_one_message_is_answered_as_sender_colon_text() -> None:
    reply = OfflineProvider().reply(turn([user("Alice", "hello there")]))

    assert reply.text == "Alice: hello there"


def test_every_new_message_gets_a_line_in_order() -> None:
    # Given a turn that coalesced three messages
    new = [user("Alice", "one", 0), user("Bob", "two", 1), user("Alice", "three", 2)]

    # When the offline model answers
    reply = OfflineProvider().reply(turn(new))

    # Then each message appears once, in order, one per line
    assert reply.text.splitlines() == ["Alice: one", "Bob: two", "Alice: three"]


def test_history_is_not_repeated() -> None:
    history = [user("Alice", "earlier"), ChatLine("assistant", "claw", "Alice: earlier", T0)]

    reply = OfflineProvider().reply(turn([user("Bob", "now", 5)], history))

    assert reply.text == "Bob: now"


def test_the_reply_is_deterministic() -> None:
    new = [user("Alice", "same"), user("Bob", "input")]

    assert OfflineProvider().reply(turn(new)).text == OfflineProvider().reply(turn(new)).text


def test_usage_counts_words_under_the_offline_model() -> None:
    reply = OfflineProvider().reply(turn([user("Alice", "one two three"), user("Bob", "four")]))

    [usage] = reply.usage
    assert usage.model == "offline"
    assert usage.input_tokens == 4  # words of the new messages
    assert usage.output_tokens == len("Alice: one two three\nBob: four".split())


def test_latency_is_simulated_when_asked() -> None:
    started = time.monotonic()
    OfflineProvider(latency_ms=200).reply(turn([user("Alice", "hi")]))
    assert time.monotonic() - started >= 0.2


def test_offline_provider_names_itself() -> None:
    assert OfflineProvider().name == "offline"

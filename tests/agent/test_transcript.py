"""claw.agent.transcript: stored messages as the alternating turns chat models expect."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from claw.agent import ChatLine, TurnInput
from claw.agent.transcript import format_user_line, to_chat_turns

UTC = ZoneInfo("UTC")


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 1, 15, hour, minute, tzinfo=timezone.utc)


def user(sender: str, text: str, when: datetime | None = None) -> ChatLine:
    return ChatLine("user", sender, text, when or at(14, 34))


def assistant(text: str) -> ChatLine:
    return ChatLine("assistant", "claw", text, at(14, 35))


@pytest.mark.parametrize(
    ("when", "clock"),
    [
        (at(14, 34), "2:34 PM"),
        (at(9, 5), "9:05 AM"),
        (at(10, 0), "10:00 AM"),
        (at(0, 7), "12:07 AM"),
        (at(12, 0), "12:00 PM"),
        (at(23, 59), "11:59 PM"),
    ],
)
def test_user_line_shows_sender_and_12_hour_clock(when: datetime, clock: str) -> None:
    assert format_user_line(user("Alice", "text", when), UTC) == f"[Alice @ {clock}]: text"


def test_user_line_is_in_the_given_timezone() -> None:
    # Given a message at 13:34 UTC in January
    line = user("Alice", "text", at(13, 34))

    # Then Paris (UTC+1) sees 2:34 PM and New York (UTC-5) 8:34 AM
    assert format_user_line(line, ZoneInfo("Europe/Paris")) == "[Alice @ 2:34 PM]: text"
    assert format_user_line(line, ZoneInfo("America/New_York")) == "[Alice @ 8:34 AM]: text"


def test_user_line_keeps_the_text_as_is() -> None:
    line = user("Bob", "multi\nline: [text]")

    assert format_user_line(line, UTC) == "[Bob @ 2:34 PM]: multi\nline: [text]"


def test_turns_alternate_and_merge_consecutive_lines_of_one_role() -> None:
    # Given history (two users, a reply) and two new messages
    turn = TurnInput(
        "http:team", "prompt",
        history=[user("Alice", "hi", at(14, 30)), user("Bob", "yo", at(14, 31)),
                 assistant("hello both")],
        new_messages=[user("Alice", "one", at(14, 34)), user("Bob", "two", at(14, 35))],
    )

    # When it is turned into chat turns
    turns = to_chat_turns(turn)

    # Then consecutive same-role lines are merged, roles alternate, users are labelled
    assert turns == [
        {"role": "user", "content": "[Alice @ 2:30 PM]: hi\n[Bob @ 2:31 PM]: yo"},
        {"role": "assistant", "content": "hello both"},
        {"role": "user", "content": "(new messages)\n[Alice @ 2:34 PM]: one\n[Bob @ 2:35 PM]: two"},
    ]


def test_turns_start_with_a_user_turn() -> None:
    # Given history that starts with replies (older user messages fell out of the window)
    turn = TurnInput("http:team", "prompt",
                     history=[assistant("old reply"), assistant("another"), user("Alice", "hi")],
                     new_messages=[user("Bob", "new")])

    turns = to_chat_turns(turn)

    assert turns[0]["role"] == "user"
    assert turns == [{"role": "user",
                      "content": "[Alice @ 2:34 PM]: hi\n(new messages)\n[Bob @ 2:34 PM]: new"}]


def test_turns_use_the_given_timezone() -> None:
    turn = TurnInput("http:team", "p", [], [user("Alice", "hi", at(13, 34))])

    assert to_chat_turns(turn, ZoneInfo("Europe/Paris")) == [
        {"role": "user", "content": "[Alice @ 2:34 PM]: hi"}]
    assert to_chat_turns(turn) == [{"role": "user", "content": "[Alice @ 1:34 PM]: hi"}]


def test_only_new_messages_make_one_user_turn() -> None:
    turn = TurnInput("http:team", "p", [], [user("Alice", "a"), user("Alice", "b")])

    assert to_chat_turns(turn) == [
        {"role": "user", "content": "[Alice @ 2:34 PM]: a\n[Alice @ 2:34 PM]: b"}]


def test_new_messages_are_not_marked_when_there_is_no_history() -> None:
    turn = TurnInput("http:team", "prompt", history=[], new_messages=[user("Bob", "first", at(9, 5))])
    assert to_chat_turns(turn) == [{"role": "user", "content": "[Bob @ 9:05 AM]: first"}]


def test_history_is_trimmed_to_the_token_budget_keeping_the_newest() -> None:
    old = [user("Alice", "x" * 400, at(9, m)) for m in range(10)]
    turn = TurnInput("http:team", "prompt", history=old, new_messages=[user("Bob", "now", at(10, 0))])
    trimmed = to_chat_turns(turn, token_budget=350)  # about three 100-token lines
    assert trimmed[0]["content"].count("[Alice @") == 3
    assert "[Alice @ 9:09 AM]" in trimmed[0]["content"]
    assert trimmed[0]["content"].endswith("(new messages)\n[Bob @ 10:00 AM]: now")

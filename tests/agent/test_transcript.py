"""claw.agent.transcript: stored messages as the alternating turns chat models expect."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from claw.agent import ChatLine, TurnInput
from claw.agent.transcript import (
    build_conversation,
    format_user_line,
    history_window,
    line_tokens,
    to_chat_turns,
)

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
    kept = trimmed[0]["content"].count("[Alice @")
    assert 1 <= kept <= 3  # a window starts at a step boundary, so it may keep fewer
    assert "[Alice @ 9:09 AM]" in trimmed[0]["content"]
    assert trimmed[0]["content"].endswith("(new messages)\n[Bob @ 10:00 AM]: now")


def chat(lines: int) -> list[ChatLine]:
    """A long conversation: alternating people and claw, one line a minute."""
    start = datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc)
    return [ChatLine("user" if i % 2 == 0 else "assistant", "Ann" if i % 2 == 0 else "claw",
                     f"line {i} " + "word " * (i % 7), start + timedelta(minutes=i)) for i in range(lines)]


@pytest.mark.parametrize("limits", [{"max_lines": 40}, {"token_budget": 400}])
def test_the_window_moves_in_steps_not_one_line_per_turn(limits: dict[str, int]) -> None:
    # Given a conversation that outgrows its history window by two lines a turn
    lines = chat(400)
    starts = []
    for end in range(100, 400, 2):
        # When each turn cuts its window (from the newest 40 stored lines, as turns.py fetches)
        fetched = lines[max(0, end - 40):end]
        window = history_window(fetched, **limits, from_start=False)
        # Then it ends with the newest line and keeps within the limits
        assert window[-1] is lines[end - 1]
        assert len(window) <= 40 and sum(line_tokens(line) for line in window) <= limits.get("token_budget", 10**6)
        assert len(window) >= 5
        starts.append(window[0])
    # And its first line stays put for several turns at a time (sliding would move it every turn)
    moves = sum(1 for a, b in zip(starts, starts[1:]) if a is not b)
    assert moves <= len(starts) // 2
    assert moves >= 5  # but it does move along


def test_a_short_history_starts_at_its_first_line() -> None:
    lines = chat(12)
    assert history_window(lines, max_lines=40, from_start=True) == lines
    assert history_window(lines, max_lines=40, from_start=False)[-1] == lines[-1]


def test_the_clock_ends_the_last_message_after_the_history() -> None:
    # Given a history that ends with claw's reply, and a new message
    turn = TurnInput("http:team", "p", [user("Ann", "hi", at(9, 0)), assistant("Hello")],
                     [user("Ann", "what day is it?", at(9, 5))], timezone="Europe/Paris")
    # When the turn is laid out at 9:05 UTC
    conversation = build_conversation(turn, now=at(9, 5))
    # Then the clock, in the group's timezone, ends the last message, after the new messages
    assert conversation.clock == "(Now: Thursday, 15 January 2026, 10:05 AM, Europe/Paris, UTC+01:00)"
    assert conversation.messages[-1]["content"] == (
        "(new messages)\n[Ann @ 10:05 AM]: what day is it?\n\n" + conversation.clock)
    # And the history before it is the stable part
    assert conversation.history_end == 2
    assert all(conversation.clock not in m["content"] for m in conversation.messages[:2])


def test_a_history_ending_with_user_lines_is_stable_only_up_to_the_reply_before_them() -> None:
    # Given unanswered chatter at the end of the history, merged with the new message
    turn = TurnInput("http:team", "p",
                     [user("Ann", "hi"), assistant("Hello"), user("Bob", "lunch?")],
                     [user("Ann", "@claw ideas?")])
    conversation = build_conversation(turn, now=at(14, 40))
    # Then the merged message is not part of the stable prefix (it reads differently next turn)
    assert len(conversation.messages) == 3 and conversation.history_end == 2


def test_consecutive_turns_share_their_history_prefix_and_only_the_clock_moves() -> None:
    # Given two consecutive turns a day apart, the second with the first one's exchange as history
    first = TurnInput("http:team", "p", chat(30), [user("Ann", "first?", at(15, 0))], timezone="Asia/Tokyo")
    second = TurnInput("http:team", "p", [*chat(30), user("Ann", "first?", at(15, 0)), assistant("Yes.")],
                       [user("Ann", "second?", at(15, 1))], timezone="Asia/Tokyo")
    a = build_conversation(first, token_budget=8000, now=at(15, 0))
    b = build_conversation(second, token_budget=8000, now=at(15, 1) + timedelta(days=1))
    # Then the second starts with the first one's whole history, byte for byte
    assert a.history_end > 0
    assert b.messages[:a.history_end] == a.messages[:a.history_end]
    assert a.clock != b.clock and a.clock not in str(b.messages) and b.clock in b.messages[-1]["content"]

"""claw.pipeline.backlog: a backlog too big for one turn is trimmed, visibly, never refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from claw.agent import ChatLine
from claw.pipeline.backlog import MIN_KEPT_CHARS, cut, trim_pending

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def lines(*texts: str) -> list[ChatLine]:
    return [ChatLine("user", f"u{i}", text, T0 + timedelta(seconds=i)) for i, text in enumerate(texts)]


def test_a_backlog_that_fits_is_shown_whole() -> None:
    backlog = lines("one", "two", "three")

    assert trim_pending(backlog, max_messages=3, char_budget=1000) == backlog


def test_too_many_messages_keep_the_newest_behind_one_marker() -> None:
    # Given 200 pending messages and room for 50
    backlog = lines(*(f"message {i}" for i in range(200)))

    shown = trim_pending(backlog, max_messages=50, char_budget=100_000)

    # Then the model sees a marker saying what was left out, then the newest 50 in order
    dropped_chars = sum(len(f"message {i}") for i in range(150))
    assert shown[0].sender == "claw"
    assert shown[0].text == f"[… 150 earlier messages / {dropped_chars} characters trimmed …]"
    assert [l.text for l in shown[1:]] == [f"message {i}" for i in range(150, 200)]


def test_one_huge_message_is_cut_in_the_middle_with_a_marker() -> None:
    # Given a 200 KB message between two short ones
    huge = "a" * 100_000 + "b" * 100_000
    shown = trim_pending(lines("before", huge, "after"), max_messages=100, char_budget=10_000)

    # Then the short ones stay whole and the huge one keeps its head and tail around a marker
    before, middle, after = shown
    assert (before.text, after.text) == ("before", "after")
    assert middle.text.startswith("aaaa") and middle.text.endswith("bbbb")
    removed = 200_000 - (10_000 - len("before") - len("after"))
    assert f"[… {removed} characters trimmed …]" in middle.text
    assert sum(len(l.text) for l in shown) < 10_000 + 50  # the budget, give or take the marker


def test_the_longest_messages_are_cut_first_and_short_ones_stay_whole() -> None:
    shown = trim_pending(lines("x" * 3000, "short", "y" * 9000), max_messages=10, char_budget=4000)

    texts = [l.text for l in shown]
    assert texts[1] == "short"
    # what is left is shared by the two long ones
    assert texts[0].startswith("x") and "characters trimmed" in texts[0]
    assert texts[2].startswith("y") and "characters trimmed" in texts[2]


def test_when_even_cut_messages_do_not_fit_the_oldest_are_left_out() -> None:
    # Given 100 long messages whose minimum kept parts alone exceed the budget
    backlog = lines(*("z" * 5000 for _ in range(100)))

    shown = trim_pending(backlog, max_messages=100, char_budget=4000)

    assert shown[0].text.startswith(f"[… {100 - len(shown) + 1} earlier messages")
    assert len(shown) - 1 == 4000 // MIN_KEPT_CHARS
    assert sum(len(l.text) for l in shown[1:]) <= 4000 + 50 * len(shown)


def test_cut_keeps_short_text_and_marks_what_it_removes() -> None:
    assert cut("hello", 10) == "hello"
    assert cut("0123456789" * 3, 9) == "012345 [… 21 characters trimmed …] 789"

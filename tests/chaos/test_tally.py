"""Reading a group's delivered replies: what counts as a duplicate, out of order, misrouted."""

from __future__ import annotations

from claw.chaos.tally import read_group

GROUP = "whatsapp:chaos01@g.us"
OWNERS = {f"c01.{n:04d}": GROUP for n in range(1, 10)} | {"c02.0001": "http:chaos02"}


def test_replies_in_order_are_clean() -> None:
    reading = read_group(GROUP, ["ack: c01.0001 c01.0002", "tok-ipc-c01-0003", "ack: c01.0003"], OWNERS)
    assert reading.replies == 2  # the IPC message echoes no id: it is not a reply
    assert sorted(reading.delivered) == ["c01.0001", "c01.0002", "c01.0003"]
    assert reading.order_violations == [] and reading.misrouted == []


def test_an_earlier_reply_arriving_later_is_an_order_violation_per_id() -> None:
    # Given the reply to 1..2 delivered after the reply to 3 (a retried send overtaken)
    reading = read_group(GROUP, ["ack: c01.0003", "ack: c01.0001 c01.0002"], OWNERS)
    assert reading.order_violations == [f"c01.0001 after 3 in {GROUP}", f"c01.0002 after 3 in {GROUP}"]


def test_a_second_echo_is_a_duplicate_not_also_an_order_violation() -> None:
    reading = read_group(GROUP, ["ack: c01.0001 c01.0002", "ack: c01.0001", "ack: c01.0003"], OWNERS)
    assert reading.delivered["c01.0001"] == 2 and reading.order_violations == []


def test_an_id_in_another_group_is_misrouted_and_not_delivered() -> None:
    reading = read_group(GROUP, ["ack: c02.0001 c01.0001"], OWNERS)
    assert reading.misrouted == [f"c02.0001 in {GROUP}"] and "c02.0001" not in reading.delivered

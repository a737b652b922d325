"""`claw schedules`: pause and resume, `rm` of a cancelled one says so, names or ids, and an
unknown group is an error, not an empty list."""

from __future__ import annotations

import httpx

from tests.cli.conftest import Claw, one_line


def new_schedule(claw: Claw, api: httpx.Client, chat: str) -> int:
    api.post("/v1/messages", json={"chat_id": chat, "text": "hi", "channel": "terminal"})
    added = claw("schedules", "add", chat, "every day at 9:00", "stretch")
    assert added.code == 0, added.err
    return int(added.out.split("#")[1].split()[0])


def test_pause_and_resume(claw: Claw, api: httpx.Client) -> None:
    schedule = new_schedule(claw, api, "gym")

    paused = claw("schedules", "pause", str(schedule))
    listed = claw("schedules", "list", "gym")
    stored = api.get(f"/v1/schedules/{schedule}").json()
    resumed = claw("schedules", "resume", str(schedule))

    assert paused.code == 0 and paused.out.startswith(f"paused #{schedule} ")
    assert "(paused)" in listed.out
    assert stored["paused"] is True and stored["next_run"] is None and stored["enabled"] is True
    assert resumed.code == 0 and resumed.out.startswith(f"resumed #{schedule} ")
    again = api.get(f"/v1/schedules/{schedule}").json()
    assert again["paused"] is False and again["next_run"] == stored["paused_next_run"]


def test_rm_of_a_cancelled_schedule_says_so(claw: Claw, api: httpx.Client) -> None:
    schedule = new_schedule(claw, api, "yoga")

    first = claw("schedules", "rm", str(schedule))
    second = claw("schedules", "rm", str(schedule))

    assert first.out.startswith(f"cancelled #{schedule} ")
    assert second.code == 0
    assert second.out.startswith(f"schedule #{schedule} was already cancelled: ")


def test_pausing_a_cancelled_schedule_is_refused(claw: Claw, api: httpx.Client) -> None:
    schedule = new_schedule(claw, api, "chess")
    claw("schedules", "rm", str(schedule))

    result = claw("schedules", "pause", str(schedule))

    assert result.code == 1
    assert one_line(result.err) == f"claw: schedule #{schedule} is finished or cancelled; there is nothing to pause"


def test_an_unknown_group_is_an_error_not_an_empty_list(claw: Claw) -> None:
    result = claw("schedules", "list", "http:nope")

    assert result.code == 1
    assert one_line(result.err) == "claw: unknown group 'http:nope'"

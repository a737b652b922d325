"""The scheduler and long-term memory on the real stack: `claw up` with a 1 s scheduler tick,
real Redis, workers and beat, driven over HTTP and the `claw` command, with the offline model.

One stack for the module. The "remind me in 1 minute" request is made by the first test and
its delivery checked by the last, so the minute passes while the other tests run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

UTC = timezone.utc


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    # the soak needs schedules every minute, below claw's default minimum interval (5 minutes;
    # refusing it is tested in tests/api/test_schedule_limits.py)
    with ClawStack(tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0,
                     scheduler_interval=1, schedule_min_interval=0) as claw:
        yield claw


@pytest.fixture(scope="module")
def minute_reminder(stack: ClawStack) -> dict[str, Any]:
    """Someone asks for a reminder in one minute (made once, checked first and last)."""
    asked_at = datetime.now(UTC)
    reply = stack.post("kitchen", "remind me in 1 minute to take the bread out", wait=30).json()["reply"]
    return {"asked_at": asked_at, "reply": reply["text"]}


def run_claw(stack: ClawStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "CLAW_API_PORT": str(stack.api_port)}
    return subprocess.run([sys.executable, "-m", "claw.cli", *args], env=env, cwd=stack.home,
                          capture_output=True, text=True, timeout=120)


def at(seconds: float) -> str:
    """A spec for a moment ``seconds`` from now, to the second."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return f"at {moment.strftime('%Y-%m-%dT%H:%M:%S')}Z"


def schedules(stack: ClawStack, group_id: str, **params: Any) -> list[dict[str, Any]]:
    response = stack.http.get("/v1/schedules", params={"group_id": group_id, **params})
    response.raise_for_status()
    return response.json()["schedules"]  # type: ignore[no-any-return]


def sent_assistant_texts(stack: ClawStack, group_id: str) -> list[str]:
    rows = stack.sql("SELECT m.text FROM messages m JOIN outbox o ON o.message_id = m.id "
                     "WHERE m.group_id = ? AND o.status = 'sent' ORDER BY m.id", group_id)
    return [row["text"] for row in rows]


# ---- the reminder asked for in plain words ------------------------------------------------


def test_remind_me_in_1_minute_is_confirmed_with_its_time(stack: ClawStack, minute_reminder: dict[str, Any]) -> None:
    [row] = schedules(stack, "http:kitchen")
    due = datetime.fromisoformat(row["next_run"])
    assert timedelta(seconds=55) < due - minute_reminder["asked_at"] < timedelta(seconds=70)
    assert (row["kind"], row["text"], row["created_by"]) == ("reminder", "take the bread out", "agent")
    assert minute_reminder["reply"] == f"Reminder #{row['id']} set for {due.strftime('%H:%M')} (UTC): take the bread out"


# ---- the HTTP API and the command line ------------------------------------------------------


def test_schedules_api_creates_lists_and_cancels(stack: ClawStack) -> None:
    stack.post("office", "hello", wait=30)
    # A bad spec is a 422 that lists the accepted forms
    bad = stack.http.post("/v1/schedules", json={"group_id": "http:office", "spec": "soonish", "text": "x"})
    assert bad.status_code == 422
    assert "cannot understand the schedule 'soonish'; accepted forms: 'in 10 minutes'" in bad.json()["error"]
    # An unknown group is a 404
    assert stack.http.post("/v1/schedules", json={"group_id": "http:nobody", "spec": "daily 09:00",
                                                  "text": "x"}).status_code == 404
    # A good one is created, listed and cancelled
    made = stack.http.post("/v1/schedules", json={"group_id": "http:office", "kind": "agent_prompt",
                                                  "spec": "weekly MON 09:00", "text": "plan the week",
                                                  "timezone": "Europe/Berlin"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["spec"], body["timezone"], body["created_by"], body["enabled"]) == (
        "weekly MON 09:00", "Europe/Berlin", "api", True)
    assert body["description"].startswith(f"#{body['id']} prompt, every Monday at 09:00, next ")
    assert [s["id"] for s in schedules(stack, "http:office")] == [body["id"]]
    gone = stack.http.delete(f"/v1/schedules/{body['id']}")
    assert gone.status_code == 200 and gone.json()["enabled"] is False
    assert schedules(stack, "http:office") == []
    assert [s["id"] for s in schedules(stack, "http:office", include_inactive=True)] == [body["id"]]


def test_schedules_api_refuses_specs_that_overflow_or_never_fire_with_a_4xx(stack: ClawStack) -> None:
    stack.post("attic", "hello", wait=30)
    # When specs that overflow a date, never come, or are built to make a parser backtrack are posted
    asked = {
        "in 999999999 days": "'in 999999999 days' is too far ahead; the furthest is 10 years",
        "every 999999999 hours": "'every 999999999 hours' is too long an interval; the longest is 10 years",
        "at 9999-12-31 23:59": "9999-12-31 is too far ahead",
        "0 9 30 2 *": "'0 9 30 2 *' never runs: no date matches it (like 30 February)",
        "every " + "monand" * 30 + "mon 9x": "cannot understand the schedule",
    }
    for spec, complaint in asked.items():
        answer = stack.http.post("/v1/schedules", json={"group_id": "http:attic", "spec": spec, "text": "x"})
        # Then each is a 422 whose error says what is wrong, never a 500
        assert answer.status_code == 422, (spec, answer.text)
        assert answer.json()["error"].startswith(complaint), answer.json()
    bad_zone = stack.http.post("/v1/schedules", json={"group_id": "http:attic", "spec": "daily 09:00",
                                                      "text": "x", "timezone": "../../etc/passwd"})
    assert bad_zone.status_code == 422 and "unknown timezone" in bad_zone.json()["error"]
    # And moving a schedule to such a time is a 422 too, leaving it as it was
    made = stack.http.post("/v1/schedules", json={"group_id": "http:attic", "spec": "daily 09:00", "text": "x"})
    assert made.status_code == 201, made.text
    moved = stack.http.patch(f"/v1/schedules/{made.json()['id']}", json={"spec": "0 0 31 4 *"})
    assert moved.status_code == 422 and "never runs" in moved.json()["error"]
    assert [s["spec"] for s in schedules(stack, "http:attic")] == ["daily 09:00"]
    assert stack.http.delete("/v1/schedules/999999").status_code == 404


def test_claw_schedules_add_list_rm(stack: ClawStack) -> None:
    stack.post("cli", "hello", wait=30)
    added = run_claw(stack, "schedules", "add", "http:cli", "every weekday at 08:30", "stand-up",
                     "--tz", "Europe/Berlin")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added #") and "every weekday at 08:30" in added.stdout
    schedule_id = added.stdout.split("#", 1)[1].split()[0]
    listed = run_claw(stack, "schedules", "list", "http:cli")
    assert listed.returncode == 0 and f"http:cli  #{schedule_id} reminder, every weekday at 08:30" in listed.stdout
    bad = run_claw(stack, "schedules", "add", "http:cli", "every blue moon", "x")
    assert bad.returncode == 1 and "accepted forms" in bad.stderr
    removed = run_claw(stack, "schedules", "rm", schedule_id)
    assert removed.returncode == 0 and removed.stdout.startswith(f"cancelled #{schedule_id}")
    assert run_claw(stack, "schedules", "list", "http:cli").stdout.strip() == "no schedules"


# ---- schedules firing through the pipeline --------------------------------------------------


def test_a_reminder_is_delivered_once_through_the_real_pipeline(stack: ClawStack) -> None:
    stack.post("hall", "hello", wait=30)
    made = stack.http.post("/v1/schedules", json={"group_id": "http:hall", "spec": at(3), "text": "lock the door"})
    assert made.status_code == 201, made.text
    # The tick fires it, the outbox delivers it, and it shows in the group's history
    wait_until(lambda: "Reminder: lock the door" in sent_assistant_texts(stack, "http:hall"), 30,
               "the reminder to be sent")
    time.sleep(3)  # a few more ticks
    assert sent_assistant_texts(stack, "http:hall").count("Reminder: lock the door") == 1
    [row] = schedules(stack, "http:hall", include_inactive=True)
    assert (row["enabled"], row["run_count"], row["next_run"]) == (False, 1, None)
    [run] = stack.sql("SELECT schedule_id, outbox_id FROM schedule_runs WHERE group_id = ?", "http:hall")
    assert run["schedule_id"] == row["id"] and run["outbox_id"] is not None


def test_an_agent_prompt_runs_a_turn_with_the_original_request(stack: ClawStack) -> None:
    # Given the group asked claw to remember something
    saved = stack.post("harbour", "remember that the boat is in the dry dock", wait=30).json()["reply"]["text"]
    assert saved == "I'll remember that: the boat is in the dry dock (saved in topics/notes.md)"
    # When a scheduled prompt asks about it
    made = stack.http.post("/v1/schedules", json={"group_id": "http:harbour", "kind": "agent_prompt",
                                                  "spec": at(2), "text": "what do you remember about the boat?"})
    assert made.status_code == 201, made.text
    # Then a turn answers the injected request, once
    expected = "Here is what I remember about the boat:\n- the boat is in the dry dock (topics/notes.md, "
    wait_until(lambda: any(t.startswith(expected) for t in sent_assistant_texts(stack, "http:harbour")), 30,
               "the scheduled turn's reply")
    injected = stack.sql("SELECT sender, text, external_id FROM messages WHERE group_id = ? AND role = 'user' "
                         "AND sender = 'scheduler'", "http:harbour")
    assert [(m["sender"], m["text"]) for m in injected] == [("scheduler", "what do you remember about the boat?")]
    assert injected[0]["external_id"].startswith(f"schedule:{made.json()['id']}:")


# ---- memory --------------------------------------------------------------------------------


def test_remember_and_recall_and_no_other_group_can(stack: ClawStack) -> None:
    saved = stack.post("family", "remember that grandma's birthday is on 12 June", wait=30).json()["reply"]
    assert saved["text"] == "I'll remember that: grandma's birthday is on 12 June (saved in topics/notes.md)"
    recalled = stack.post("family", "what do you remember about birthdays?", sender="bob", wait=30).json()["reply"]
    assert recalled["text"].startswith(
        "Here is what I remember about birthdays:\n- grandma's birthday is on 12 June (topics/notes.md, ")
    elsewhere = stack.post("neighbours", "what do you remember about birthdays?", wait=30).json()["reply"]
    assert elsewhere["text"] == "I don't remember anything about birthdays."
    notes = stack.home / "workspace" / "groups" / "http%3Afamily" / "memory" / "topics" / "notes.md"
    assert "grandma's birthday is on 12 June" in notes.read_text()


def test_a_hand_edited_memory_file_is_found_by_the_assistant_and_the_cli(stack: ClawStack) -> None:
    stack.post("garage", "hello", wait=30)
    people = stack.home / "workspace" / "groups" / "http%3Agarage" / "memory" / "people"
    people.mkdir(parents=True)
    (people / "marco.md").write_text("# Marco\n\nMarco fixes the van on Thursdays.\n")
    reply = stack.post("garage", "what do you remember about the van?", wait=30).json()["reply"]["text"]
    assert reply.startswith("Here is what I remember about the van:\n- Marco fixes the van on Thursdays. "
                            "(people/marco.md, ")
    found = run_claw(stack, "memory", "search", "http:garage", "thursday")
    assert found.returncode == 0, found.stderr
    assert "people/marco.md  Marco fixes the van on Thursdays." in found.stdout
    listed = run_claw(stack, "memory", "list", "http:garage")
    assert "people/marco.md  1 entry" in listed.stdout
    assert run_claw(stack, "memory", "search", "http:family", "thursday").stdout.strip() == "nothing found"


# ---- last: the minute has passed ------------------------------------------------------------


def test_the_minute_reminder_arrives_once(stack: ClawStack, minute_reminder: dict[str, Any]) -> None:
    deadline = minute_reminder["asked_at"] + timedelta(seconds=90)
    wait_until(lambda: "Reminder: take the bread out" in sent_assistant_texts(stack, "http:kitchen"),
               max(1.0, (deadline - datetime.now(UTC)).total_seconds()), "the one-minute reminder")
    arrived = stack.sql("SELECT o.sent_at FROM outbox o JOIN messages m ON m.id = o.message_id "
                        "WHERE m.group_id = ? AND m.text = ?", "http:kitchen", "Reminder: take the bread out")
    assert len(arrived) == 1
    sent_at = datetime.fromisoformat(arrived[0]["sent_at"]).replace(tzinfo=UTC)
    assert timedelta(seconds=59) < sent_at - minute_reminder["asked_at"] < timedelta(seconds=75)


# ---- soak: two beats ------------------------------------------------------------------------

SOAK_SCHEDULES = 50
SOAK_SECONDS = 125


@pytest.mark.slow
def test_two_beats_and_a_1s_tick_fire_each_due_run_once_for_two_minutes(stack: ClawStack) -> None:
    # Given a second beat next to the stack's own, both firing the tick every second
    log = (stack.home / "beat-2.log").open("ab")
    second_beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "claw.celery_app", "beat", "-s", str(stack.home / "beat-2"),
         "-l", "DEBUG"], env=stack.env, cwd=stack.home, stdout=log, stderr=subprocess.STDOUT)
    try:
        # And 50 schedules due on every minute
        stack.post("soak", "hello", wait=30)
        ids = []
        for n in range(SOAK_SCHEDULES):
            made = stack.http.post("/v1/schedules", json={"group_id": "http:soak", "spec": "* * * * *",
                                                          "text": f"ping {n}"})
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        # When two minutes pass
        time.sleep(SOAK_SECONDS)
    finally:
        second_beat.terminate()
        second_beat.wait(30)
        log.close()
    assert "claw.scheduler.tick" in (stack.home / "beat-2.log").read_text()
    # Then every schedule fired once per minute: no run twice, none skipped, every reminder sent once
    runs = stack.sql("SELECT schedule_id, due_at FROM schedule_runs WHERE group_id = ? ORDER BY due_at", "http:soak")
    by_schedule: dict[int, list[datetime]] = {}
    for run in runs:
        by_schedule.setdefault(run["schedule_id"], []).append(datetime.fromisoformat(str(run["due_at"])))
    assert sorted(by_schedule) == ids
    for schedule_id, dues in by_schedule.items():
        assert len(dues) >= 2, (schedule_id, dues)
        assert all(b - a == timedelta(minutes=1) for a, b in zip(dues, dues[1:])), (schedule_id, dues)
    def reminders() -> list[str]:
        return [t for t in sent_assistant_texts(stack, "http:soak") if t.startswith("Reminder")]

    wait_until(lambda: len(reminders()) >= len(runs), 30, "every reminder sent")
    sent = reminders()
    for n, schedule_id in enumerate(ids):
        assert sent.count(f"Reminder: ping {n}") == len(by_schedule[schedule_id])
    assert len(sent) == len(runs)

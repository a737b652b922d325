"""Host requests of code run in a turn are journaled: when a redone turn runs the same code
again (it was killed while the code ran), each request it already made is answered from the
journal and not done again. The code itself runs twice: that part is at-least-once."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from claw.config import Settings
from claw.db import Outbox, read_session
from claw.db.models import Schedule
from claw.memory import group_memory_root
from claw.pipeline.journal import TurnJournal
from claw.sandbox import Identity, run_code
from claw.workspace import scratch_dir

CODE = """
import claw_ipc
with open("runs.txt", "a") as log:
    log.write("ran\\n")
sent = claw_ipc.send_message("the report is ready")
made = claw_ipc.schedule_task(kind="reminder", spec="in 10 minutes", text="check the report")
claw_ipc.save_memory(category="topics", topic="reports", content="the report is done")
print(sent["outbox_id"], made["schedule_id"])
"""


def count(model: type) -> int:
    with read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_code_run_again_in_a_redone_turn_makes_each_request_once(settings: Settings, default_db: str) -> None:
    # Given a turn whose model asked to run code
    journal = TurnJournal("http:team", [], datetime.now(timezone.utc))
    journal.record(1, 0, {"content": [], "usage": {}})
    call = journal.slot(1, 1)
    identity = Identity("http:team")
    # When the code runs, and runs again for the same tool call (the turn was redone)
    first = run_code(settings, identity, "python", CODE, overrides={}, journal=call)
    again = run_code(settings, identity, "python", CODE, overrides={}, journal=call)
    # Then the code ran twice, but its message, schedule and memory entry exist once
    assert first.exit_code == again.exit_code == 0, (first.output, again.output)
    assert (scratch_dir(settings.workspace, "http:team") / "runs.txt").read_text() == "ran\nran\n"
    assert (count(Outbox), count(Schedule)) == (1, 1)
    notes = group_memory_root(settings.workspace, "http:team") / "topics" / "reports.md"
    assert notes.read_text().count("the report is done") == 1
    # And the second run was told what the first one did
    assert again.output == first.output and again.ipc.done == 3
    # When another tool call of the turn runs the same code
    run_code(settings, identity, "python", CODE, overrides={}, journal=journal.slot(1, 2))
    # Then that is a new request of its own, done again
    assert (count(Outbox), count(Schedule)) == (2, 2)
    assert notes.read_text().count("the report is done") == 2

"""The schedule minimum interval at the API and the CLI: a flood of runs is a clear refusal.

The API server runs with claw's default CLAW_SCHEDULE_MIN_INTERVAL (5 minutes); `claw
schedules add` is the real command against it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.api_server import ApiServer

pytestmark = pytest.mark.parametrize("api_server", ["sqlite"], indirect=True)


def a_group(api: httpx.Client, name: str) -> str:
    assert api.post("/v1/messages", json={"chat_id": name, "text": "hello"}).status_code == 202
    return f"http:{name}"


def schedule_specs(api: httpx.Client, group_id: str) -> list[str]:
    return [s["spec"] for s in api.get("/v1/schedules", params={"group_id": group_id}).json()["schedules"]]


@pytest.mark.parametrize("spec", ["* * * * *", "*/2 * * * *", "every 1m", "every 4 minutes"])
def test_a_schedule_that_runs_too_often_is_a_422_that_says_the_limit(api: httpx.Client, spec: str) -> None:
    group = a_group(api, "floor")
    answer = api.post("/v1/schedules", json={"group_id": group, "spec": spec, "text": "spam"})
    assert answer.status_code == 422, answer.text
    assert "may run at most every 5 minutes: choose a longer interval, like 'every 5 minutes'" in answer.json()["error"]
    assert schedule_specs(api, group) == []


def test_moving_a_schedule_to_run_too_often_is_a_422_and_changes_nothing(api: httpx.Client) -> None:
    group = a_group(api, "move")
    made = api.post("/v1/schedules", json={"group_id": group, "spec": "every morning at 8", "text": "news"})
    assert made.status_code == 201 and made.json()["spec"] == "daily 08:00"
    moved = api.patch(f"/v1/schedules/{made.json()['id']}", json={"spec": "*/2 * * * *"})
    assert moved.status_code == 422 and "may run at most every 5 minutes" in moved.json()["error"]
    assert schedule_specs(api, group) == ["daily 08:00"]


def test_claw_schedules_add_refuses_it_with_the_apis_reason(api: httpx.Client, api_server: ApiServer,
                                                            tmp_path: Path) -> None:
    group = a_group(api, "cli")
    env = {**os.environ, "CLAW_HOME": str(tmp_path), "CLAW_API_PORT": str(api_server.port),
           "CLAW_API_TOKEN": api_server.token}

    def claw(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "claw.cli", "schedules", "add", group, *args], env=env,
                              capture_output=True, text=True, timeout=120)

    refused = claw("* * * * *", "spam")
    assert refused.returncode == 1
    assert refused.stderr.startswith("claw: 'cron * * * * *' runs as often as every 1 minute")
    assert "422" not in refused.stderr and len(refused.stderr.splitlines()) == 1
    added = claw("every 30m", "stand up")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added #") and "every 30 minutes" in added.stdout
    assert schedule_specs(api, group) == ["every 30 minutes"]

"""One error shape on every 4xx, and "unknown" is a 404 wherever a route takes a group or a
task id (a list filtered by an unknown group was an empty 200; a task id claw never issued
was PENDING)."""

from __future__ import annotations

import uuid

import httpx

from tests.support.api_server import ApiServer


def assert_error(response: httpx.Response, status: int, says: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and says in body["error"]


def test_an_unknown_group_is_404_on_the_schedule_list(api: httpx.Client) -> None:
    assert_error(api.get("/v1/schedules", params={"group_id": "http:nope"}), 404, "unknown group 'http:nope'")


def test_a_task_id_claw_did_not_issue_is_404_and_one_it_did_is_known(api: httpx.Client) -> None:
    started = api.post("/v1/tasks/claw.sweep", json={})
    assert started.status_code == 202, started.text

    known = api.get(f"/v1/tasks/{started.json()['task_id']}")
    unknown = api.get(f"/v1/tasks/{uuid.uuid4()}")

    assert known.status_code == 200 and known.json()["state"] in ("PENDING", "STARTED", "SUCCESS")
    assert_error(unknown, 404, "no task")


def test_401_and_404_have_the_error_shape(api_server: ApiServer) -> None:
    with httpx.Client(base_url=api_server.base_url, timeout=10) as anonymous:
        assert_error(anonymous.get("/v1/groups"), 401, "bearer token")
    with api_server.client() as client:
        assert_error(client.get("/v1/no-such-route"), 404, "Not Found")
        assert_error(client.post("/v1/schedules/999999/pause"), 404, "no schedule #999999")

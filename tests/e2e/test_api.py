"""The HTTP API's contract: auth, clear 4xx errors for bad input, paging."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0, flower=True) as claw:
        yield claw


@pytest.fixture
def anonymous(stack: ClawStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=str(stack.http.base_url), timeout=30) as client:
        yield client


# Which routes need the token (all but /healthz, enumerated from the app itself), and that it
# is checked before a body is read: tests/api/test_gate.py.


def test_nothing_is_stored_for_an_unauthorised_message(stack: ClawStack, anonymous: httpx.Client) -> None:
    anonymous.post("/v1/messages", json={"chat_id": "intruder", "text": "hi"})
    assert stack.sql("SELECT id FROM groups WHERE id = 'http:intruder'") == []


def test_healthz_is_public(anonymous: httpx.Client) -> None:
    body = anonymous.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] and body["redis"]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"text": "no chat"}, "chat_id: Field required"),
        ({"chat_id": "c", "text": ""}, "text: String should have at least 1 character"),
        ({"chat_id": "c", "text": "x" * 16_001}, "text: String should have at most 16000 characters"),
        ({"chat_id": "c", "text": "hi", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"chat_id": "c\n", "text": "hi"}, "chat_id: String should match pattern"),
        ({"chat_id": "c", "text": "hi", "channel": "telegram"}, "channel: Input should be"),
    ],
)
def test_malformed_messages_get_a_422_that_says_what_is_wrong(
    stack: ClawStack, body: dict, complaint: str
) -> None:
    response = stack.http.post("/v1/messages", json=body)
    assert response.status_code == 422
    assert complaint in response.json()["error"]


def test_broken_json_and_huge_bodies_are_refused(stack: ClawStack) -> None:
    broken = stack.http.post("/v1/messages", content=b'{"chat_id": "c", "text": ',
                             headers={"Content-Type": "application/json"})
    assert broken.status_code == 422
    assert "JSON decode error" in broken.json()["error"]
    huge = stack.http.post("/v1/messages", content=b"x" * 300_000,
                           headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert "larger than" in huge.json()["error"]


def test_wait_out_of_range_is_refused(stack: ClawStack) -> None:
    response = stack.http.post("/v1/messages", params={"wait": 999}, json={"chat_id": "c", "text": "hi"})
    assert response.status_code == 422
    assert "wait" in response.json()["error"]


def test_unknown_group_is_404(stack: ClawStack) -> None:
    for response in (
        stack.http.get("/v1/groups/http:nobody/messages"),
        stack.http.patch("/v1/groups/http:nobody", json={"priority": True}),
    ):
        assert response.status_code == 404
        assert "http:nobody" in response.json()["error"]


def test_messages_page_by_after_id_and_limit(stack: ClawStack) -> None:
    for i in range(5):
        stack.post("pages", f"m{i}", wait=30)
    first = stack.http.get("/v1/groups/http:pages/messages", params={"limit": 4}).json()["messages"]
    rest = stack.http.get(
        "/v1/groups/http:pages/messages", params={"after_id": first[-1]["id"], "limit": 100}
    ).json()["messages"]
    everything = first + rest
    assert len(first) == 4
    assert [m["text"] for m in everything if m["role"] == "user"] == [f"m{i}" for i in range(5)]
    assert [m["id"] for m in everything] == sorted({m["id"] for m in everything})
    bad = stack.http.get("/v1/groups/http:pages/messages", params={"limit": 0})
    assert bad.status_code == 422


def test_terminal_channel_messages_form_their_own_group(stack: ClawStack) -> None:
    response = stack.http.post(
        "/v1/messages", params={"wait": 30},
        json={"chat_id": "desk", "text": "from the terminal", "sender": "me", "channel": "terminal"},
    )
    assert response.status_code == 200
    assert response.json()["group_id"] == "terminal:desk"
    assert response.json()["reply"]["text"] == "me: from the terminal"


def test_personality_fallback_chain_and_self_edit_through_the_offline_model(stack: ClawStack) -> None:
    # Given a workspace-wide personality and a group without its own
    workspace = stack.home / "workspace"
    (workspace / "CLAUDE.md").write_text("You are claw, the team's helper.\n")
    stack.post("moody", "hi", wait=30)
    before = stack.http.get("/v1/groups/http:moody/personality").json()
    assert (before["source"], before["text"]) == ("workspace", "You are claw, the team's helper.\n")
    # When someone asks the assistant to change
    reply = stack.post("moody", "be more cheerful", sender="Zoe", wait=30).json()["reply"]
    # Then it edits its own personality for this group only, keeping the workspace text
    assert reply["text"] == "Personality updated: Be more cheerful."
    after = stack.http.get("/v1/groups/http:moody/personality").json()
    assert after["source"] == "group"
    assert after["text"] == "You are claw, the team's helper.\n- Be more cheerful.\n"
    assert stack.http.get("/v1/groups/http:pages/personality").json()["source"] == "workspace"


def test_personality_can_be_replaced_over_the_api_keeping_old_versions(stack: ClawStack) -> None:
    stack.post("styled", "hi", wait=30)
    first = stack.http.put("/v1/groups/http:styled/personality", json={"text": "Be formal."})
    second = stack.http.put("/v1/groups/http:styled/personality", json={"text": "Be casual."})
    assert first.status_code == second.status_code == 200
    assert second.json() == {"group_id": "http:styled", "text": "Be casual.", "source": "group",
                             "previous_versions": 1}
    assert stack.http.put("/v1/groups/http:styled/personality", json={"text": ""}).status_code == 422
    assert stack.http.put("/v1/groups/http:ghost/personality", json={"text": "x"}).status_code == 404


def test_usage_of_the_offline_model_is_counted_and_free(stack: ClawStack) -> None:
    stack.post("counted", "one two three", wait=30)
    usage = stack.http.get("/v1/groups/http:counted/usage").json()
    assert usage["turns"] == 1 and usage["input_tokens"] == 3 and usage["cost_usd"] == 0
    assert [u["model"] for u in usage["recent"]] == ["offline"]
    assert "http:counted" in [row["group_id"] for row in stack.http.get("/v1/usage").json()]


def test_timestamps_carry_their_timezone(stack: ClawStack) -> None:
    from datetime import datetime

    body = stack.post("clock", "what time is it", wait=30).json()
    [message, *_] = stack.messages("http:clock")
    for stamp in (body["reply"]["created_at"], message["created_at"]):
        assert datetime.fromisoformat(stamp).utcoffset() is not None


def test_other_systems_trigger_allowlisted_tasks_and_read_their_result(stack: ClawStack) -> None:
    import time

    # When another system ingests a message through the task route
    started = stack.http.post("/v1/tasks/claw.ingest", json={
        "channel": "web", "chat_id": "kiosk", "sender": "visitor", "text": "via a task"})
    assert started.status_code == 202
    task_id = started.json()["task_id"]
    # Then the task's result (the stored message's id) can be read back
    deadline = time.monotonic() + 20
    while (state := stack.http.get(f"/v1/tasks/{task_id}").json())["state"] != "SUCCESS":
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    [message] = [m for m in stack.messages("web:kiosk") if m["role"] == "user"]
    assert state["result"] == message["id"]
    # And the message is answered like any other
    stack.wait_answered("web:kiosk", 1)
    assert stack.replies("web:kiosk") == ["visitor: via a task"]


def test_only_allowlisted_tasks_with_valid_arguments_can_be_started(stack: ClawStack) -> None:
    unknown = stack.http.post("/v1/tasks/claw.turn", json={})
    assert unknown.status_code == 404 and "allowed: claw.ingest" in unknown.json()["error"]
    bad = stack.http.post("/v1/tasks/claw.ingest", json={"channel": "fax", "chat_id": "x"})
    assert bad.status_code == 422 and "channel" in bad.json()["error"]
    extra = stack.http.post("/v1/tasks/claw.sweep", json={"force": True})
    assert extra.status_code == 422
    assert stack.http.post("/v1/tasks/claw.sweep").status_code == 202


def test_metrics_count_what_the_database_and_redis_know(stack: ClawStack) -> None:
    stack.post("metered", "count me", wait=30)
    text = stack.http.get("/metrics").text
    metrics = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    assert metrics['claw_messages_total{role="user"}'] >= 1
    assert metrics["claw_groups"] >= 1
    assert metrics["claw_redis_up"] == 1 and metrics["claw_beat_alive"] == 1
    assert metrics["claw_workers_alive"] == 2  # one shard worker and the io worker
    assert 'claw_queue_length{queue="claw.shard.0"}' in metrics
    assert httpx.get(str(stack.http.base_url.join("/metrics"))).status_code == 401


def test_a_group_gets_its_own_timezone(stack: ClawStack) -> None:
    stack.post("tokyo", "hi", wait=30)
    bad = stack.http.patch("/v1/groups/http:tokyo", json={"timezone": "Mars/Olympus"})
    assert bad.status_code == 422 and "unknown timezone" in bad.json()["error"]
    ok = stack.http.patch("/v1/groups/http:tokyo", json={"timezone": "Asia/Tokyo"})
    assert ok.status_code == 200 and ok.json()["timezone"] == "Asia/Tokyo"
    # And it survives other changes to the group, and other groups keep CLAW_TZ
    stack.http.patch("/v1/groups/http:tokyo", json={"priority": True})
    listed = {g["id"]: g for g in stack.http.get("/v1/groups").json()["groups"]}
    assert (listed["http:tokyo"]["timezone"], listed["http:tokyo"]["priority"]) == ("Asia/Tokyo", True)
    assert listed["http:clock"]["timezone"] is None


def test_claw_up_starts_flower_behind_the_api_token(stack: ClawStack) -> None:
    # Given the stack `claw up` started, Flower with it
    url = f"http://127.0.0.1:{stack.flower_port}/"

    def answering() -> httpx.Response | None:
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError:
            return None

    # Then Flower asks for a password, and refuses a wrong one
    anonymous = wait_until(answering, 60, "Flower to listen")
    assert anonymous.status_code == 401
    assert httpx.get(url, auth=("claw", "not-the-token"), timeout=10).status_code == 401
    assert httpx.get(url, auth=("admin", stack.token), timeout=10).status_code == 401
    # And user claw with the API token gets in
    dashboard = httpx.get(url, auth=("claw", stack.token), timeout=30)
    assert dashboard.status_code == 200 and "Flower" in dashboard.text

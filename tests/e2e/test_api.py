"""The HTTP API's contract: auth, clear 4xx errors for bad input, paging."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import openai
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


# ---- the OpenAI-compatible face, driven by the real openai SDK ----------------------------


def openai_client(stack: ClawStack, token: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=str(stack.http.base_url.join("/v1")), api_key=token or stack.token,
                         max_retries=0, timeout=60)


def test_openai_clients_list_claw_as_the_model(stack: ClawStack) -> None:
    assert [m.id for m in openai_client(stack).models.list()] == ["claw"]
    with pytest.raises(openai.AuthenticationError):
        openai_client(stack, token="wrong").models.list()


def test_a_chat_completion_is_a_turn_of_the_users_group_with_tools_and_memory(stack: ClawStack) -> None:
    client = openai_client(stack)
    # When an OpenAI client sends a conversation as user "otto"
    first = client.chat.completions.create(model="gpt-4o", user="otto", messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "remember that the boat leaves at nine"}])
    # Then the reply is claw's turn: its tool saved the fact in the group api:otto
    assert first.choices[0].message.role == "assistant" and first.choices[0].finish_reason == "stop"
    assert first.choices[0].message.content.startswith("I'll remember that: the boat leaves at nine")
    assert first.model == "claw"
    # And a later request (its history resent, as clients do) is answered from claw's memory
    later = client.chat.completions.create(model="claw", user="otto", messages=[
        {"role": "user", "content": "remember that the boat leaves at nine"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": "what do you remember about the boat?"}]}])
    assert "the boat leaves at nine" in later.choices[0].message.content
    stored = stack.messages("api:otto")
    assert [m["text"] for m in stored if m["role"] == "user"] == [
        "remember that the boat leaves at nine", "what do you remember about the boat?"]


def test_a_streamed_completion_arrives_as_openai_chunks(stack: ClawStack) -> None:
    client = openai_client(stack)
    chunks = list(client.chat.completions.create(
        model="claw", stream=True, messages=[{"role": "user", "content": "hello stream", "name": "ada"}],
        extra_headers={"X-Claw-Chat": "streamers"}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ada: hello stream"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1
    assert stack.replies("api:streamers") == ["ada: hello stream"]
    # the raw stream ends the way OpenAI's does
    raw = stack.http.post("/v1/chat/completions", json={
        "model": "claw", "stream": True, "user": "streamers", "messages": [{"role": "user", "content": "again"}]})
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_a_retried_completion_with_an_idempotency_key_is_one_message(stack: ClawStack) -> None:
    client = openai_client(stack)
    ask = {"model": "claw", "user": "retrier", "messages": [{"role": "user", "content": "only once please"}],
           "extra_headers": {"Idempotency-Key": "req-42"}}
    first = client.chat.completions.create(**ask)
    again = client.chat.completions.create(**ask)
    assert first.choices[0].message.content == again.choices[0].message.content == "user: only once please"
    assert first.id == again.id
    assert [m["text"] for m in stack.messages("api:retrier")] == ["only once please", "user: only once please"]


def test_a_completion_that_claw_cannot_take_says_why(stack: ClawStack) -> None:
    client = openai_client(stack)
    # claw's error shape: the SDK hands the sentence over as the error's body
    with pytest.raises(openai.UnprocessableEntityError) as not_the_user:
        client.chat.completions.create(model="claw", messages=[{"role": "assistant", "content": "hi"}])
    assert "the last message must be the user's (role user), not 'assistant'" in str(not_the_user.value.body)
    with pytest.raises(openai.UnprocessableEntityError) as bad_name:
        client.chat.completions.create(model="claw", user="bad\nname", messages=[{"role": "user", "content": "x"}])
    assert str(bad_name.value.body).startswith("user: String should match pattern")
    assert stack.sql("SELECT id FROM groups WHERE channel = 'api' AND id LIKE 'api:bad%'") == []


# ---- what `claw up` shows on its console, and what goes to $CLAW_HOME/logs ---------------


def test_the_console_shows_where_to_talk_and_one_line_per_turn_and_celery_goes_to_files(stack: ClawStack) -> None:
    stack.post("logbook", "remember that the logbook is blue", wait=30)
    stack.post("logbook", "hello logs", wait=30)

    def console_has_turn_lines() -> str | None:
        text = stack.log_path.read_text(errors="replace")
        return text if text.count("turn_replied group=http:logbook") >= 2 else None

    console = wait_until(console_has_turn_lines, 30, "the turn lines on the console")
    # one line per turn: group, messages answered, tools used, tokens, time
    assert re.search(r"shard0 \| turn_replied group=http:logbook answered=1 tools=save_memory "
                     r"tokens=\d+/\d+ seconds=\d+\.\d", console), console[-3000:]
    assert re.search(r"turn_replied group=http:logbook answered=1 tools=- ", console)
    assert "API:     http://127.0.0.1:" in console
    # no Celery banner, no per-task lines, no steady-state polls on the console
    for noise in ("[queues]", "celery@", "Task claw.", "succeeded in", "Sending due task", "Uvicorn running"):
        assert noise not in console, noise
    # they are in the process's log file, except the steady-state tasks at info
    shard_log = (stack.home / "logs" / "shard0.log").read_text(errors="replace")
    io_log = (stack.home / "logs" / "io.log").read_text(errors="replace")
    beat_log = (stack.home / "logs" / "beat.log").read_text(errors="replace")
    assert "[queues]" in shard_log and "Task claw.turn[" in shard_log
    assert "[queues]" in io_log and "claw.io" in io_log
    assert "claw.sweep[" not in io_log and "claw.poll[" not in io_log
    assert "beat: Starting" in beat_log and "Sending due task" not in beat_log


def test_a_group_can_switch_the_web_off(stack: ClawStack) -> None:
    # Given a group whose agent may use the web (the stack allows no host: 127.0.0.1 is refused)
    refused = stack.post("surfer", "fetch http://127.0.0.1:9/private", wait=30).json()["reply"]["text"]
    assert refused.startswith("Error: web_fetch http://127.0.0.1:9/private: refused:") and "loopback" in refused
    # When the group's web is switched off, the tool is gone for its agent
    patched = stack.http.patch("/v1/groups/http:surfer", json={"web": False})
    assert patched.status_code == 200 and patched.json()["web"] is False
    gone = stack.post("surfer", "fetch https://example.org/", wait=30).json()["reply"]["text"]
    assert gone.startswith("Error: unknown tool 'web_fetch'")
    listed = {g["id"]: g for g in stack.http.get("/v1/groups").json()["groups"]}
    assert listed["http:surfer"]["web"] is False
    assert all(g["web"] for name, g in listed.items() if name != "http:surfer")


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

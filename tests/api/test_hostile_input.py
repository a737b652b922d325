"""No input gets a 5xx: each hostile input gets a 4xx whose `error` says what is wrong.

On SQLite and on PostgreSQL (which refuses NUL in text and integers past 64 bits), through the
API as `claw up` runs it; the `api` fixture also fails a test whose request crashed the server.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from claw.db.models import MAX_ID
from tests.support.api_server import ApiServer

HUGE = 10**30
JSON = {"Content-Type": "application/json"}


def raw(text: str) -> dict[str, Any]:
    """A request whose JSON body is spelled out, so it can hold escapes such as a lone surrogate."""
    return {"content": text.encode(), "headers": JSON}


@pytest.mark.parametrize(
    ("method", "path", "request_args", "status", "complaint"),
    [
        # lone surrogates (a JSON escape can make one; no database or response can encode it)
        ("POST", "/v1/messages", raw('{"chat_id": "c", "text": "hi \\ud800"}'), 422,
         "text: Value error, lone surrogate \\ud800 at character 3"),
        ("POST", "/v1/messages", raw('{"chat_id": "c\\udfff", "text": "hi"}'), 422, "chat_id: "),
        ("POST", "/v1/messages", raw('{"chat_id": "c", "text": "hi", "\\ud800": 1}'), 422,
         "unable to parse raw data as a unicode string"),
        ("POST", "/v1/messages", raw('{"chat_id": "c", "text": "hi", "external_id": "\\udc00"}'), 422,
         "external_id: "),
        ("PUT", "/v1/groups/http:c/personality", raw('{"text": "\\ud83d"}'), 422, "lone surrogate"),
        ("POST", "/v1/tasks/claw.ingest",
         raw('{"channel": "web", "chat_id": "c", "sender": "s", "text": "\\ud800"}'), 422, "lone surrogate"),
        ("POST", "/v1/tasks/claw.ingest", raw('{"\\ud800": "x"}'), 422, "unable to parse raw data"),
        # NUL (PostgreSQL cannot store it in text)
        ("POST", "/v1/messages", {"json": {"chat_id": "c", "text": "a\x00b"}}, 422,
         "text: Value error, NUL at character 1"),
        ("POST", "/v1/messages", {"json": {"chat_id": "c", "text": "hi", "sender": "a\x00"}}, 422, "sender: "),
        ("PATCH", "/v1/groups/http:c", {"json": {"name": "x\x00"}}, 422, "name: "),
        ("POST", "/v1/tasks/claw.ingest",
         {"json": {"channel": "web", "chat_id": "c", "sender": "s", "text": "\x00"}}, 422, "NUL"),
        ("GET", "/v1/groups/http:%00/messages", {}, 422, "group_id: String should match pattern"),
        ("GET", "/v1/schedules?group_id=http:%00", {}, 422, "group_id: String should match pattern"),
        ("POST", "/v1/schedules", {"json": {"group_id": "http:c", "spec": "in 5 minutes", "text": "\x00"}},
         422, "text: "),
        # huge integers (ids, after_id): nothing can have such an id
        ("GET", f"/v1/groups/http:c/messages?after_id={HUGE}", {}, 422,
         f"after_id: Input should be less than or equal to {MAX_ID}"),
        ("GET", f"/v1/groups/http:c/messages?after_id={MAX_ID + 1}", {}, 422, "after_id: "),
        ("GET", f"/v1/groups/http:c/messages?limit={HUGE}", {}, 422, "limit: "),
        ("GET", f"/v1/schedules/{HUGE}", {}, 422, "schedule_id: Input should be less than or equal to"),
        ("DELETE", f"/v1/schedules/{MAX_ID + 1}", {}, 422, "schedule_id: "),
        ("PATCH", f"/v1/schedules/{-HUGE}", {"json": {"text": "x"}}, 422, "schedule_id: "),
        ("GET", "/v1/tasks/" + "x" * 300, {}, 422, "task: String should have at most 255 characters"),
        # a message of nothing but whitespace says nothing: no turn is spent on it
        ("POST", "/v1/messages", {"json": {"chat_id": "c", "text": " \n\t\u3000"}}, 422,
         "text: Value error, the message text is only whitespace"),
        # numbers that are not numbers, and types the schema does not allow
        ("POST", "/v1/messages?wait=nan", {"json": {"chat_id": "c", "text": "hi"}}, 422, "wait: "),
        ("POST", "/v1/messages?wait=inf", {"json": {"chat_id": "c", "text": "hi"}}, 422, "wait: "),
        ("GET", "/v1/groups/http:c/events?seconds=-1", {}, 422, "seconds: "),
        ("GET", "/v1/groups/http:c/events?last_event_id=$", {}, 422, "'$' is not an event id"),
        ("GET", "/v1/groups/http:c/events", {"headers": {"Last-Event-ID": "18446744073709551616-0"}}, 422,
         "is not an event id of this stream"),
        ("PATCH", "/v1/groups/http:c", {"json": {"priority": 0}}, 422, "priority: Input should be a valid boolean"),
        ("POST", "/v1/messages", {"json": {"chat_id": 7, "text": "hi"}}, 422, "chat_id: Input should be a valid string"),
        # bodies that are not JSON text, or not an object
        ("POST", "/v1/messages", {"content": b'{"chat_id": "\xff\xfe"}', "headers": JSON}, 400,
         "the body is not JSON text in UTF-8"),
        ("POST", "/v1/messages", {"content": b"[" * 100_000, "headers": JSON}, 400, "not JSON text"),
        ("POST", "/v1/messages", {"json": ["chat_id", "text"]}, 422, "Input should be a valid dictionary"),
        ("POST", "/v1/tasks/claw.sweep", {"json": [1]}, 422, "Input should be a valid dictionary"),
        # too long: the API's message cap (polled channels cut instead: see tests/pipeline/test_inbox.py)
        ("POST", "/v1/messages", {"json": {"chat_id": "c", "text": "x" * 16_001}}, 422,
         "text: String should have at most 16000 characters"),
        ("POST", "/v1/tasks/claw.ingest",
         {"json": {"channel": "telegram", "chat_id": "c", "sender": "s", "text": "x" * 16_001}}, 422,
         "text: String should have at most 16000 characters"),
        # every 4xx has the error field, /v1/tasks and unknown routes included
        ("POST", "/v1/tasks/claw.turn", {"json": {}}, 404, "no task 'claw.turn'; allowed: claw.ingest"),
        ("POST", "/v1/tasks/claw.ingest", {"json": {"channel": "fax"}}, 422, "channel: Input should be"),
        ("GET", "/v1/nowhere", {}, 404, "Not Found"),
        ("DELETE", "/v1/groups", {}, 405, "Method Not Allowed"),
    ],
)
def test_hostile_input_gets_a_4xx_that_says_what_is_wrong(
    api: httpx.Client, method: str, path: str, request_args: dict[str, Any], status: int, complaint: str
) -> None:
    response = api.request(method, path, **request_args)
    assert response.status_code == status, response.text
    assert complaint in response.json()["error"]


def test_a_405_names_every_method_of_the_path(api: httpx.Client) -> None:
    response = api.request("DELETE", "/v1/groups/http:c/personality")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT"
    tasks = api.request("DELETE", "/v1/tasks/claw.sweep")
    assert tasks.headers["allow"] == "GET, POST"


def test_an_error_that_echoes_a_lone_surrogate_is_still_valid_utf8(api: httpx.Client) -> None:
    # The 422 lists the input; a lone surrogate in it would make the answer unencodable
    response = api.post("/v1/messages", **raw('{"chat_id": "c", "text": "x", "\\ud800": "\\udfff"}'))
    assert response.status_code == 422
    assert response.content.decode("utf-8")
    assert "\ufffd" in response.text


def test_refused_input_stores_nothing(api: httpx.Client) -> None:
    for body in ('{"chat_id": "refused", "text": "\\ud800"}', '{"chat_id": "refused", "text": "\\u0000"}'):
        assert api.post("/v1/messages", **raw(body)).status_code == 422
    assert api.get("/v1/groups/http:refused/messages").status_code == 404


def test_the_same_external_id_is_one_message_per_chat(api: httpx.Client) -> None:
    # Given a message with a client-chosen external id in chat "north"
    first = api.post("/v1/messages", json={"chat_id": "north", "text": "one", "external_id": "e-1"}).json()
    # When the same id comes again in that chat, and in chat "south"
    again = api.post("/v1/messages", json={"chat_id": "north", "text": "one", "external_id": "e-1"}).json()
    south = api.post("/v1/messages", json={"chat_id": "south", "text": "two", "external_id": "e-1"}).json()
    # Then the repeat is the first message, and the other chat's is a message of its own
    assert again == {**first, "duplicate": True}
    assert (south["group_id"], south["duplicate"]) == ("http:south", False)
    assert south["message_id"] != first["message_id"]
    north = api.get("/v1/groups/http:north/messages").json()["messages"]
    assert [m["text"] for m in north] == ["one"]


# ---- one error shape; "unknown" is a 404 wherever a route takes a group or a task id ----------
# (a list filtered by an unknown group was an empty 200; a task id claw never issued, PENDING)


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


def test_a_group_whose_id_holds_a_slash_is_reachable_by_every_group_route(api: httpx.Client) -> None:
    # chat ids are any printable text: a web chat "a/b", an OpenAI `user` "org/alice"; the page
    # and clients send the id percent-encoded, which the server decodes before routing
    stored = api.post("/v1/messages", json={"chat_id": "team/a", "text": "hello"})
    assert stored.status_code == 202, stored.text
    group = "/v1/groups/http%3Ateam%2Fa"
    messages = api.get(f"{group}/messages")
    assert messages.status_code == 200 and messages.json()["messages"][0]["text"] == "hello"
    patched = api.patch(group, json={"name": "Team A"})
    assert patched.status_code == 200 and patched.json()["id"] == "http:team/a"
    for path in ("personality", "usage", "failed"):
        assert api.get(f"{group}/{path}").status_code == 200, path
    events = api.get(f"{group}/events", params={"seconds": 1, "last_event_id": "0"})
    assert events.status_code == 200 and events.text.startswith(": subscribed")
    assert api.get("/v1/groups/http%3Anobody%2Fx/messages").status_code == 404
    # a PATCH path never swallows another route's: its 405 still names that route's methods
    assert api.request("DELETE", f"{group}/messages").headers["allow"] == "GET"


def test_claw_chat_reads_a_group_whose_id_holds_url_characters(api: httpx.Client) -> None:
    from claw.cli.chat_session import recent_messages

    assert api.post("/v1/messages", json={"chat_id": "q?x#y/z", "text": "odd name"}).status_code == 202
    messages = recent_messages(api, "http:q?x#y/z")  # was /v1/groups/http:q?x#y/z/messages: a 405
    assert messages is not None and messages[-1]["text"] == "odd name"

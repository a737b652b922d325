"""Chat completions when claw does not answer in time (the API alone: no worker ever replies)."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support.api_server import ApiServer

#: the database plays no part in waiting: SQLite only, so the module starts one server
pytestmark = pytest.mark.parametrize("api_server", ["sqlite"], indirect=True)


def client(api_server: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api_server.base_url}/v1", api_key=api_server.token, max_retries=0,
                         timeout=30)


def test_no_reply_in_time_is_a_504_and_the_message_is_kept(api_server: ApiServer, api: httpx.Client) -> None:
    with pytest.raises(openai.InternalServerError) as late:
        client(api_server).chat.completions.create(
            model="claw", user="late", messages=[{"role": "user", "content": "are you there?"}],
            extra_query={"wait": 0.3})
    assert late.value.status_code == 504
    assert str(late.value.body).startswith("claw did not answer within 0.3 s; the message is kept")
    texts = [m["text"] for m in api.get("/v1/groups/api:late/messages").json()["messages"]]
    assert texts == ["are you there?"]


def test_a_stream_without_a_reply_in_time_ends_in_an_error_the_sdk_raises(api_server: ApiServer) -> None:
    stream = client(api_server).chat.completions.create(
        model="claw", user="late-stream", stream=True, messages=[{"role": "user", "content": "hello?"}],
        extra_query={"wait": 0.3})
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    with pytest.raises(openai.APIError, match="claw did not answer within 0.3 s"):
        list(stream)


def test_a_chat_named_in_utf8_by_header_is_the_same_group_as_by_user(api: httpx.Client) -> None:
    body = {"model": "claw", "messages": [{"role": "user", "content": "hallo"}]}
    by_header = api.post("/v1/chat/completions", params={"wait": 0.1}, json=body,
                         headers={"X-Claw-Chat": "Küche".encode()})
    assert by_header.status_code == 504, by_header.text
    by_user = api.post("/v1/chat/completions", params={"wait": 0.1}, json={**body, "user": "Küche"})
    assert by_user.status_code == 504, by_user.text
    ids = [g["id"] for g in api.get("/v1/groups").json()["groups"] if g["channel"] == "api"]
    assert "api:Küche" in ids and "api:KÃ¼che" not in ids

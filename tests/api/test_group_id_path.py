"""A group id holding '/' (or '%') is reached on every route of the group, escaped as the CLI and
the chat page escape it; before, Starlette split the id at the decoded '/' and answered 404."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest


@pytest.mark.parametrize("chat", ["a/b", "../x", "..%2f", "50%/y z"])
def test_group_with_slash_or_percent_is_reachable(api: httpx.Client, chat: str) -> None:
    created = api.post("/v1/messages", json={"chat_id": chat, "text": "hi", "channel": "terminal"})
    assert created.status_code in (200, 202), created.text
    group = f"terminal:{chat}"
    assert created.json()["group_id"] == group
    path = f"/v1/groups/{quote(group, safe=':@')}"
    for method, suffix, kwargs in [
        ("GET", "/messages", {}),
        ("GET", "/personality", {}),
        ("GET", "/usage", {}),
        ("GET", "/failed", {}),
        ("GET", "/events?seconds=1", {}),
        ("PATCH", "", {"json": {"name": "slashy"}}),
    ]:
        response = api.request(method, path + suffix, **kwargs)
        assert response.status_code == 200, (method, suffix, response.text)
    messages = api.get(f"{path}/messages").json()["messages"]
    assert [m["text"] for m in messages][:1] == ["hi"]
    # the escaped and the unescaped spelling are two different groups
    if chat == "..%2f":
        other = quote("terminal:../", safe=":@")
        assert api.get(f"/v1/groups/{other}/messages").status_code == 404


def test_a_bad_escape_in_a_group_id_is_a_422(api: httpx.Client) -> None:
    response = api.get("/v1/groups/terminal:%FF%2F/messages")
    assert response.status_code == 422, response.text
    assert response.json()["error"]

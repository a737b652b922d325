"""`claw send`: a bare name and `terminal:<name>` are one group; a new group is announced."""

from __future__ import annotations

import httpx
import pytest

from tests.cli.conftest import Claw, one_line


def users(api: httpx.Client, group: str) -> list[str]:
    page = api.get(f"/v1/groups/{group}/messages")
    assert page.status_code == 200, page.text
    return [m["text"] for m in page.json()["messages"] if m["role"] == "user"]


def test_a_bare_name_and_its_terminal_id_reach_one_group(claw: Claw, api: httpx.Client) -> None:
    # --wait 0 (no workers answer here anyway): each send stores its message and returns at once
    first = claw("send", "kitchen", "one", "--wait", "0")
    second = claw("send", "terminal:kitchen", "two", "--wait", "0")

    assert users(api, "terminal:kitchen") == ["one", "two"]
    assert api.get("/v1/groups/terminal:terminal:kitchen/messages").status_code == 404
    assert "terminal:kitchen is a new group: this message creates it" in first.err
    assert "new group" not in second.err
    assert (first.code, second.code) == (0, 0)
    assert second.err.strip() == ("sent to terminal:kitchen (not waiting for the reply; "
                                  "it will appear in the group's messages)")


def test_a_reply_that_does_not_come_in_time_is_exit_1(claw: Claw, api: httpx.Client) -> None:
    # No workers answer here: a send that waits says no reply came and where it will appear
    result = claw("send", "patience", "anyone?", "--wait", "0.5")

    assert result.code == 1
    assert result.err.splitlines()[-1] == "claw: no reply within 0.5 s; it will appear in terminal:patience's messages"
    assert users(api, "terminal:patience") == ["anyone?"]


@pytest.mark.parametrize("text", ["", "  \n\t "])
def test_an_empty_message_is_a_usage_error_and_nothing_is_sent(claw: Claw, api: httpx.Client, text: str) -> None:
    result = claw("send", "http:quiet", text)

    assert result.code == 2
    assert one_line(result.err) == "claw: the message text is empty; give something to say"
    assert api.get("/v1/groups/http:quiet/messages").status_code == 404


def test_an_http_group_is_written_on_its_own_channel(claw: Claw, api: httpx.Client) -> None:
    claw("send", "http:ops", "deploy done", "--wait", "0")

    assert users(api, "http:ops") == ["deploy done"]


def test_a_group_of_a_polled_channel_is_refused_before_anything_is_stored(claw: Claw, api: httpx.Client) -> None:
    result = claw("send", "whatsapp:123@g.us", "hi")

    assert result.code == 2
    assert "claw send writes to terminal, http, web groups, not whatsapp:123@g.us" in one_line(result.err)
    assert api.get("/v1/groups/whatsapp:123@g.us/messages").status_code == 404


def test_claw_chat_takes_the_same_group_names(claw: Claw, api: httpx.Client) -> None:
    # Given `claw chat` with a full http: id and with a bare name, each typing one line
    claw("chat", "--group", "http:desk", stdin="from chat\nquit\n")
    claw("chat", "--group", "lobby", stdin="hello\nquit\n")

    # Then each line is stored in the group the name means, on that group's channel
    assert users(api, "http:desk") == ["from chat"]
    assert users(api, "terminal:lobby") == ["hello"]
    assert api.get("/v1/groups/terminal:http:desk/messages").status_code == 404


def test_claw_chat_refuses_a_group_of_a_polled_channel(claw: Claw) -> None:
    result = claw("chat", "--group", "telegram:-100123", stdin="hi\n")

    assert result.code == 2
    assert "claw chat talks in terminal, http, web groups, not telegram:-100123" in one_line(result.err)

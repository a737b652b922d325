"""`claw groups …`: names or ids, a readable `set` that refuses an empty change, a `list` with
name and timezone, and `personality --edit` through $EDITOR."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Claw, one_line
from tests.support.api_server import ApiServer


def make_group(api: httpx.Client, chat: str, channel: str = "terminal") -> str:
    response = api.post("/v1/messages", json={"chat_id": chat, "text": "hi", "channel": channel})
    assert response.status_code == 202, response.text
    return f"{channel}:{chat}"


def test_set_prints_what_changed_and_list_shows_name_and_timezone(claw: Claw, api: httpx.Client) -> None:
    # Given a terminal group, named by its bare name
    make_group(api, "desk")

    changed = claw("groups", "set", "desk", "--name", "Front desk", "--tz", "Europe/Berlin", "--priority")
    listed = claw("groups", "list")

    assert changed.code == 0, changed.err
    assert changed.out == "terminal:desk: priority on, name 'Front desk', timezone Europe/Berlin\n"
    assert listed.out.splitlines()[0].split() == ["group", "name", "timezone", "respond", "flags"]
    [row] = [line for line in listed.out.splitlines() if line.startswith("terminal:desk ")]
    assert row.split() == ["terminal:desk", "Front", "desk", "Europe/Berlin", "always", "priority"]


def test_set_without_a_change_is_refused_as_a_usage_error(claw: Claw, api: httpx.Client) -> None:
    make_group(api, "idle")

    result = claw("groups", "set", "terminal:idle")

    assert result.code == 2
    assert one_line(result.err).startswith("claw: nothing to change: give --priority")


def test_a_bad_timezone_is_one_line_from_the_api(claw: Claw, api: httpx.Client) -> None:
    make_group(api, "tz")

    result = claw("groups", "set", "tz", "--tz", "Mars/Olympus")

    assert result.code == 1
    line = one_line(result.err)
    assert "unknown timezone 'Mars/Olympus'" in line and "422" not in line and "{" not in line


@pytest.mark.parametrize("name", ["room", "terminal:room"])
def test_a_bare_name_and_the_full_id_are_the_same_group(claw: Claw, api: httpx.Client, name: str) -> None:
    make_group(api, "room")

    result = claw("groups", "personality", name)

    assert result.code == 0, result.err
    assert result.out.startswith("# source: default")


@pytest.mark.parametrize("odd", ["urlids#2", "urlids?x=1", "urlids/../urlids"])
def test_a_chat_id_with_url_characters_names_its_own_group_never_another(
    claw: Claw, api: httpx.Client, odd: str
) -> None:
    # Given a group "urlids" (its own: every CLI module shares one API) and one whose chat id
    # holds '#', '?' or '/' (an HTTP client picks it)
    make_group(api, "urlids", channel="http")
    make_group(api, odd, channel="http")

    # When the odd one is changed by its full id
    result = claw("groups", "set", f"http:{odd}", "--name", "odd one")

    # Then that group changed, and "urlids" did not
    assert result.code == 0, result.err
    names = {g["id"]: g.get("name") for g in api.get("/v1/groups").json()["groups"]}
    assert names[f"http:{odd}"] == "odd one"
    assert names["http:urlids"] != "odd one"


def test_an_unknown_group_is_one_line_and_exit_1(claw: Claw) -> None:
    result = claw("usage", "http:nobody")

    assert result.code == 1
    assert one_line(result.err) == "claw: unknown group 'http:nobody'"


def test_personality_edit_saves_what_the_editor_wrote(
    claw: Claw, api: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an editor that replaces the file's text
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('You are a pirate.\\n')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    monkeypatch.delenv("VISUAL", raising=False)
    group = make_group(api, "pirates")

    result = claw("groups", "personality", group, "--edit")

    assert result.code == 0, result.err
    assert result.out == "saved; 0 previous version(s) kept\n"
    shown = api.get(f"/v1/groups/{group}/personality").json()
    assert shown["text"].strip() == "You are a pirate."


def test_personality_edit_that_saves_nothing_changes_nothing(
    claw: Claw, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDITOR", "true")
    monkeypatch.delenv("VISUAL", raising=False)
    group = make_group(api, "calm")

    result = claw("groups", "personality", group, "--edit")

    assert (result.code, result.out) == (0, "unchanged\n")
    assert api.get(f"/v1/groups/{group}/personality").json()["source"] == "default"


def test_a_strangers_name_and_first_message_cannot_drive_the_owners_terminal(
    claw: Claw, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stranger on Telegram whose name and first message carry escape sequences (a title
    # change, a clipboard write through OSC 52) and a line break that forges another row
    from claw.config import get_settings
    from claw.db import write_session
    from claw.pipeline import pairing
    from claw.pipeline.inbox import IncomingMessage, store_message

    monkeypatch.setenv("CLAW_PAIRING", "on")
    get_settings.cache_clear()
    evil = "Mal\x1b]0;pwned\x07lory\nFAKE  row"
    incoming = IncomingMessage("telegram", "70021", evil, "hi \x1b]52;c;ZXZpbA==\x07 there\x9b2J",
                               "70021:1", private=True, chat_name=evil)
    with write_session(api_server.database_url) as session:
        stored = store_message(session, incoming)
        assert pairing.hold(session, stored, incoming) is not None

    # When the owner lists waiting chats and groups
    for args in (("groups", "pairings"), ("groups", "list")):
        result = claw(*args)
        # Then nothing a terminal would act on is printed, and each chat stays on its own lines
        assert result.code == 0, result.err
        assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 for c in result.out), repr(result.out)
        assert not any(line.startswith("FAKE") for line in result.out.splitlines())
        assert "lory" in result.out


@pytest.mark.parametrize(
    ("editor", "complaint"),
    [
        ("false", "claw: false: Editing failed; nothing saved (set $EDITOR to an editor that works)"),
        ("/nonexistent/editor", "claw: /nonexistent/editor: Editing failed: [Errno 2] No such file or "
         "directory: '/nonexistent/editor'; nothing saved (set $EDITOR to an editor that works)"),
        ("truncate -s 0", "claw: the edited personality is empty; nothing saved"),
    ],
)
def test_personality_edit_with_a_failing_editor_is_one_line_and_saves_nothing(
    claw: Claw, api: httpx.Client, monkeypatch: pytest.MonkeyPatch, editor: str, complaint: str
) -> None:
    """Before, a failing or missing $EDITOR was a traceback (click's own exception, which the
    CLI's one-line errors did not catch) and an emptied file a raw 422 field error."""
    monkeypatch.setenv("EDITOR", editor)
    monkeypatch.delenv("VISUAL", raising=False)
    group = make_group(api, f"ed{abs(hash(editor)) % 10**6}")

    result = claw("groups", "personality", group, "--edit")

    assert result.code == 1
    assert one_line(result.err) == complaint
    assert api.get(f"/v1/groups/{group}/personality").json()["source"] == "default"

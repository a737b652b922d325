"""web_fetch and web_search as IPC actions: code in the sandbox (no network) reads the web
through the host, under web_fetch's address checks and the group's web switch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claw.config import Settings
from claw.db import Group, write_session
from claw.sandbox import limits_for
from claw.sandbox.ipc import ALLOWED_ACTIONS, Identity, IpcHost, Policy, RateLimiter
from tests.support.fake_web import FakeSearch, FakeSite
from tests.support.sandbox import make_settings, run

PAGE = "<html><body><article><p>The ferry to Blankenese leaves every twenty minutes from pier 3.</p>" \
       "<p>On Sundays it runs every ten minutes, weather allowing.</p></article></body></html>"


@pytest.fixture
def site() -> Iterator[FakeSite]:
    fake = FakeSite().start()
    fake.page("/ferry", PAGE)
    yield fake
    fake.stop()


def ask(tmp_path: Path, settings: Settings, action: str, args: dict[str, Any],
        sandbox: dict[str, Any] | None = None) -> dict[str, Any]:
    group = tmp_path / "group"
    group.mkdir(exist_ok=True)
    host = IpcHost(Identity("http:team"), group, settings=settings, limits=limits_for(settings, sandbox),
                   policy=Policy.for_group(sandbox, ALLOWED_ACTIONS), limiter=RateLimiter())
    host.open()
    (group / ".ipc" / "requests" / "r.json").write_text(json.dumps({"action": action, "args": args}))
    host.finish()
    return json.loads((group / ".ipc" / "responses" / "r.json").read_text())  # type: ignore[no-any-return]


def local_settings(tmp_path: Path, **more: Any) -> Settings:
    return Settings(workspace=tmp_path, home=tmp_path / "home", web_allow_hosts="127.0.0.1", **more)


def test_code_reads_a_page_and_searches_through_the_host(tmp_path: Path, default_db: str, site: FakeSite) -> None:
    answer = ask(tmp_path, local_settings(tmp_path), "web_fetch", {"url": f"{site.url}/ferry"})
    assert answer["ok"] and "every twenty minutes from pier 3" in answer["result"]["text"]
    search = FakeSearch("searxng", [("Ferry times", "https://example.org/ferry", "HADAG line 62")]).start()
    try:
        found = ask(tmp_path, local_settings(tmp_path, search_provider=search.url), "web_search", {"query": "ferry"})
    finally:
        search.stop()
    assert found["result"]["results"] == [
        {"title": "Ferry times", "url": "https://example.org/ferry", "snippet": "HADAG line 62"}]


def test_code_gets_the_same_address_checks(tmp_path: Path, default_db: str, site: FakeSite) -> None:
    # without CLAW_WEB_ALLOW_HOSTS the fake site is what it is: this machine
    answer = ask(tmp_path, Settings(workspace=tmp_path, home=tmp_path / "home"), "web_fetch",
                 {"url": f"{site.url}/ferry"})
    assert answer["ok"] is False and "a loopback address" in answer["error"]
    assert site.requests == []


def test_a_group_with_the_web_switched_off_is_refused(tmp_path: Path, default_db: str, site: FakeSite) -> None:
    with write_session() as session:
        session.get_one(Group, "http:team").settings = {"web": False}
    answer = ask(tmp_path, local_settings(tmp_path), "web_fetch", {"url": f"{site.url}/ferry"})
    assert answer["ok"] is False and "has the web switched off" in answer["error"]
    # and ipc_actions can leave the web out for code alone
    with write_session() as session:
        session.get_one(Group, "http:team").settings = {}
    narrowed = ask(tmp_path, local_settings(tmp_path), "web_fetch", {"url": f"{site.url}/ferry"},
                   sandbox={"ipc_actions": ["send_message"]})
    assert narrowed["ok"] is False and "may not use 'web_fetch'" in narrowed["error"]
    assert site.requests == []


def test_search_without_a_provider_says_so(tmp_path: Path, default_db: str) -> None:
    answer = ask(tmp_path, local_settings(tmp_path), "web_search", {"query": "ferry"})
    assert answer["ok"] is False and "not configured" in answer["error"]


def test_code_in_a_real_sandbox_fetches_a_page(tmp_path: Path, default_db: str, site: FakeSite,
                                               bwrap_works: None) -> None:
    settings = make_settings(tmp_path, web_allow_hosts="127.0.0.1")
    code = (
        "import claw_ipc, urllib.request\n"
        f"print(claw_ipc.web_fetch({site.url + '/ferry'!r})['text'])\n"
        "try:\n"
        f"    urllib.request.urlopen({site.url + '/ferry'!r}, timeout=2)\n"
        "    print('DIRECT: reached')\n"
        "except OSError as exc:\n"
        "    print('DIRECT: no network')\n"
    )
    result = run(settings, code)
    assert "every twenty minutes from pier 3" in result.output, result.output
    assert "DIRECT: no network" in result.output
    assert len(site.requests) == 1  # the host's fetch, not the sandbox's

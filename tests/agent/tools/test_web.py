"""The web tools as the model sees and calls them, and the offline model's fetch/search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from claw.agent import ChatLine, TurnInput
from claw.agent.loop import run_agent
from claw.agent.offline import FETCH_SUMMARY_CHARS, OfflineProvider
from claw.agent.tools import ToolContext, registry_for
from claw.config import Settings
from tests.support.fake_web import FakeSearch, FakeSite

LONG_ARTICLE = ("<html><head><title>Harbour news</title></head><body><article>"
                + "".join(f"<p>Paragraph {n}: the harbour ferry schedule changes on Monday for the summer.</p>"
                          for n in range(40))
                + "</article></body></html>")


def names(settings: Settings, group_settings: dict[str, Any] | None = None) -> set[str]:
    return {spec.name for spec in registry_for(settings, group_settings).specs()}


def test_web_search_is_offered_only_with_a_provider_and_a_group_can_switch_the_web_off() -> None:
    bare, searching = Settings(search_provider=None), Settings(search_provider="brave")
    assert "web_fetch" in names(bare) and "web_search" not in names(bare)
    assert {"web_fetch", "web_search"} <= names(searching)
    assert not {"web_fetch", "web_search"} & names(searching, {"web": False})
    assert "run_code" in names(searching, {"web": False})
    # the same registry object each time: a group's tool list is stable between turns
    assert registry_for(searching, {"web": True}) is registry_for(searching, {})


@pytest.fixture
def site() -> Iterator[FakeSite]:
    fake = FakeSite().start()
    yield fake
    fake.stop()


def say(settings: Settings, text: str) -> str:
    ctx = ToolContext("http:team", settings.workspace, settings)
    turn = TurnInput("http:team", "", [], [ChatLine("user", "alice", text, datetime.now(timezone.utc))])
    reply = run_agent(OfflineProvider(), turn, registry_for(settings), ctx, max_iterations=4,
                      history_token_budget=8000)
    return reply.text


def test_the_offline_model_fetches_a_page_and_summarizes_it(tmp_path: Path, site: FakeSite) -> None:
    settings = Settings(workspace=tmp_path, home=tmp_path / "home", web_allow_hosts="127.0.0.1")
    url = site.page("/news", LONG_ARTICLE)
    reply = say(settings, f"fetch {url}")
    assert "Paragraph 0: the harbour ferry schedule changes on Monday" in reply
    assert "Paragraph 39" not in reply and len(reply) <= FETCH_SUMMARY_CHARS + 2
    refused = say(Settings(workspace=tmp_path, home=tmp_path / "home"), f"fetch {url}")
    assert refused.startswith("Error: web_fetch") and "loopback" in refused
    assert len(site.requests) == 1


def test_the_offline_model_searches(tmp_path: Path) -> None:
    fake = FakeSearch("tavily", [("Ferry", "https://example.org/f", "line 62 every 20 minutes")]).start()
    try:
        settings = Settings(workspace=tmp_path, home=tmp_path / "home", search_provider="tavily",
                            search_api_key="test-key", search_url=fake.url)
        reply = say(settings, "search ferry to Blankenese")
    finally:
        fake.stop()
    assert reply == ("Results for 'ferry to Blankenese':\n1. Ferry\n   https://example.org/f\n"
                     "   line 62 every 20 minutes")

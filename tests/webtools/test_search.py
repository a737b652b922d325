"""web_search against fake Brave, Tavily and SearXNG servers speaking their documented JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from claw.config import Settings
from claw.webtools.search import SearchError, SearchProvider, render_hits
from tests.support.fake_web import FakeSearch

HITS = [("Otters - Wikipedia", "https://en.wikipedia.org/wiki/Otter", "Otters are carnivorous mammals"),
        ("Elbe otters", "https://example.org/elbe", "About two hundred live by the Elbe")]


def provider_for(kind: str, fake: FakeSearch, key: str | None = "test-key") -> SearchProvider:
    if kind == "searxng":
        settings = Settings(search_provider=fake.url, search_api_key=key)
    else:
        settings = Settings(search_provider=kind, search_api_key=key, search_url=fake.url)
    provider = SearchProvider.from_settings(settings)
    assert provider is not None and provider.kind == kind
    return provider


@pytest.fixture(params=["brave", "tavily", "searxng"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeSearch]:
    server = FakeSearch(request.param, HITS).start()
    yield server
    server.stop()


def test_each_provider_gives_titles_urls_and_snippets(fake: FakeSearch) -> None:
    hits = provider_for(fake.kind, fake).search("otters elbe", 5)
    assert [(h.title, h.url, h.snippet) for h in hits] == HITS
    sent = fake.requests[-1]
    if fake.kind == "tavily":
        assert json.loads(sent.body)["query"] == "otters elbe"
    else:
        assert sent.query["q"] == ["otters elbe"]
    text = render_hits("otters elbe", hits)
    assert "1. Otters - Wikipedia\n   https://en.wikipedia.org/wiki/Otter" in text


def test_count_caps_the_results(fake: FakeSearch) -> None:
    assert len(provider_for(fake.kind, fake).search("otters", 1)) == 1


def test_a_refused_key_is_a_clear_error() -> None:
    fake = FakeSearch("brave", HITS, key="right").start()
    try:
        with pytest.raises(SearchError, match="refused the key"):
            provider_for("brave", fake, key="wrong").search("otters")
        with pytest.raises(SearchError, match="needs CLAW_SEARCH_API_KEY"):
            provider_for("brave", fake, key=None).search("otters")
        fake.status = 429
        with pytest.raises(SearchError, match="rate limited"):
            provider_for("brave", fake, key="right").search("otters")
    finally:
        fake.stop()


def test_no_provider_means_none_and_a_wrong_one_says_what_is_accepted() -> None:
    assert SearchProvider.from_settings(Settings(search_provider=None)) is None
    with pytest.raises(SearchError, match="use brave, tavily or a SearXNG URL"):
        SearchProvider.from_settings(Settings(search_provider="google"))


def test_markup_in_titles_and_snippets_becomes_plain_text() -> None:
    fake = FakeSearch("brave", [("Sea <strong>otters</strong> &amp; friends", "https://example.org/o",
                                 "<strong>Otters</strong> hold hands while they sleep")]).start()
    try:
        [hit] = provider_for("brave", fake).search("otters")
    finally:
        fake.stop()
    assert (hit.title, hit.snippet) == ("Sea otters & friends", "Otters hold hands while they sleep")

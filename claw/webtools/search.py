"""web_search: titles, URLs and snippets from the configured provider.

``CLAW_SEARCH_PROVIDER`` picks it:

    brave                  Brave Search API (GET /res/v1/web/search, X-Subscription-Token)
    tavily                 Tavily (POST /search, Authorization: Bearer <key>)
    https://searx.example  a SearXNG instance (GET /search?format=json; its JSON output on)

``CLAW_SEARCH_API_KEY`` is the key (Brave and Tavily need one; SearXNG takes it as a bearer
token if given). ``CLAW_SEARCH_URL`` points Brave or Tavily elsewhere (a proxy, the tests'
fake servers). The provider is configured by the operator, so its URL is not held to
web_fetch's public-address rule; the URLs it returns are, when the model fetches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

BRAVE_URL = "https://api.search.brave.com"
TAVILY_URL = "https://api.tavily.com"
PROVIDERS = ("brave", "tavily", "searxng")


class SearchError(Exception):
    """The search could not be done; the message says why."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    title: str
    url: str
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchProvider:
    kind: str  #: brave | tavily | searxng
    base_url: str
    api_key: str | None = None
    timeout: float = 15.0

    @classmethod
    def from_settings(cls, settings) -> SearchProvider | None:  # type: ignore[no-untyped-def]
        """The configured provider, or None (then web_search is not offered)."""
        configured = (settings.search_provider or "").strip()
        if not configured:
            return None
        key = settings.search_api_key.get_secret_value() if settings.search_api_key else None
        lowered = configured.lower()
        if lowered.startswith(("http://", "https://")):
            return cls("searxng", configured.rstrip("/"), key, settings.web_timeout)
        if lowered.startswith("searxng:"):
            return cls("searxng", configured.split(":", 1)[1].rstrip("/"), key, settings.web_timeout)
        if lowered not in ("brave", "tavily"):
            raise SearchError(
                f"CLAW_SEARCH_PROVIDER={configured!r}: use brave, tavily or a SearXNG URL (https://…)"
            )
        base = (settings.search_url or (BRAVE_URL if lowered == "brave" else TAVILY_URL)).rstrip("/")
        return cls(lowered, base, key, settings.web_timeout)

    def search(self, query: str, count: int = 5) -> list[SearchHit]:
        if self.kind in ("brave", "tavily") and not self.api_key:
            raise SearchError(f"{self.kind} needs CLAW_SEARCH_API_KEY")
        try:
            with httpx.Client(timeout=self.timeout, trust_env=False) as client:
                response = self._request(client, query, count)
        except httpx.TimeoutException:
            raise SearchError(f"the {self.kind} search timed out after {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise SearchError(f"could not reach the {self.kind} search: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            raise SearchError(f"the {self.kind} search refused the key ({response.status_code})")
        if response.status_code == 429:
            raise SearchError(f"the {self.kind} search is rate limited (429); try again later")
        if response.status_code >= 400:
            raise SearchError(f"the {self.kind} search answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise SearchError(f"the {self.kind} search did not answer JSON") from None
        return _hits(self.kind, data)[:count]

    def _request(self, client: httpx.Client, query: str, count: int) -> httpx.Response:
        if self.kind == "brave":
            return client.get(f"{self.base_url}/res/v1/web/search", params={"q": query, "count": count},
                              headers={"Accept": "application/json", "X-Subscription-Token": self.api_key or ""})
        if self.kind == "tavily":
            return client.post(f"{self.base_url}/search", json={"query": query, "max_results": count},
                               headers={"Authorization": f"Bearer {self.api_key}"})
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return client.get(f"{self.base_url}/search", params={"q": query, "format": "json"}, headers=headers)


def _hits(kind: str, data: Any) -> list[SearchHit]:
    """The results of a provider's documented JSON, as hits (malformed entries skipped)."""
    if not isinstance(data, dict):
        raise SearchError(f"the {kind} search answered something other than a JSON object")
    if kind == "brave":
        web = data.get("web")
        results, snippet_key = (web.get("results") if isinstance(web, dict) else None), "description"
    else:
        results, snippet_key = data.get("results"), "content"
    hits = []
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, dict) or not isinstance(result.get("url"), str):
            continue
        hits.append(SearchHit(_plain(str(result.get("title") or result["url"])), result["url"],
                              _plain(str(result.get(snippet_key) or ""))))
    return hits


def _plain(text: str) -> str:
    """Providers mark the query's words up (Brave: ``<strong>``) and escape entities: the text
    alone, read by lxml's HTML parser."""
    if "<" not in text and "&" not in text:
        return text
    import lxml.etree
    import lxml.html

    try:
        return " ".join(lxml.html.fragment_fromstring(text, create_parent="div").text_content().split())
    except (ValueError, lxml.etree.ParserError):
        return text


def render_hits(query: str, hits: list[SearchHit]) -> str:
    if not hits:
        return f"No results for {query!r}."
    lines = [f"Results for {query!r}:"]
    for number, hit in enumerate(hits, start=1):
        lines.append(f"{number}. {hit.title}\n   {hit.url}" + (f"\n   {hit.snippet}" if hit.snippet else ""))
    return "\n".join(lines)

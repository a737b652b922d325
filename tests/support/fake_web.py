"""Fake web sites and search providers: real HTTP servers on 127.0.0.1 for web_fetch/web_search.

    site = FakeSite().start()
    site.page("/article", ARTICLE_HTML)                     # 200 text/html
    site.route("/moved", 302, headers={"Location": "/article"})
    site.route("/pic", 200, b"\\x89PNG...", content_type="image/png")

Every request is kept in ``site.requests`` (path, Host header), so a test can see that a
refused fetch sent nothing. ``FakeSearch`` answers as Brave, Tavily or SearXNG document it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import LoopbackServer


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  #: lower-cased names
    body: bytes = b""
    query: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Route:
    status: int
    body: bytes
    headers: dict[str, str]
    delay: float = 0.0  #: seconds before the body is sent
    trickle: int = 0  #: bytes of body sent per 0.05 s (0: all at once)


class _Recording(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        super().__init__()

    def _answer(self, seen: Seen) -> Route:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(method, parts.path, {k.lower(): v for k, v in self.headers.items()}, body,
                            parse_qs(parts.query))
                with fake.lock:
                    fake.requests.append(seen)
                route = fake._answer(seen)
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if route.delay:
                    time.sleep(route.delay)
                try:
                    if route.trickle:
                        for start in range(0, len(route.body), route.trickle):
                            self.wfile.write(route.body[start:start + route.trickle])
                            self.wfile.flush()
                            time.sleep(0.05)
                    else:
                        self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


class FakeSite(_Recording):
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        super().__init__()

    def route(self, path: str, status: int = 200, body: bytes | str = b"", *, content_type: str = "text/html",
              headers: dict[str, str] | None = None, delay: float = 0.0, trickle: int = 0) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(status, data, {"Content-Type": content_type, **(headers or {})}, delay, trickle)
        return f"{self.url}{path}"

    def page(self, path: str, html: str) -> str:
        return self.route(path, 200, html, content_type="text/html; charset=utf-8")

    def _answer(self, seen: Seen) -> Route:
        return self.routes.get(seen.path) or Route(404, b"not here", {"Content-Type": "text/plain"})


def brave_body(hits: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Brave's WebSearchApiResponse: results under web.results, snippet in description."""
    return {"type": "search", "query": {"original": "q"},
            "web": {"type": "search", "results": [
                {"title": t, "url": u, "description": s, "type": "search_result"} for t, u, s in hits]}}


def tavily_body(hits: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Tavily's /search answer: results with content and score."""
    return {"query": "q", "answer": None, "images": [], "follow_up_questions": None, "response_time": 0.5,
            "results": [{"title": t, "url": u, "content": s, "score": 0.9, "raw_content": None}
                        for t, u, s in hits]}


def searxng_body(hits: list[tuple[str, str, str]]) -> dict[str, Any]:
    """SearXNG's format=json answer."""
    return {"query": "q", "number_of_results": len(hits), "answers": [], "infoboxes": [], "suggestions": [],
            "unresponsive_engines": [],
            "results": [{"title": t, "url": u, "content": s, "engine": "fake", "score": 1.0}
                        for t, u, s in hits]}


class FakeSearch(_Recording):
    """One provider's API: brave (GET /res/v1/web/search), tavily (POST /search) or searxng
    (GET /search?format=json). A request without the expected key gets that API's 401."""

    def __init__(self, kind: str, hits: list[tuple[str, str, str]], key: str | None = "test-key") -> None:
        self.kind, self.hits, self.key = kind, hits, key
        self.status = 200
        super().__init__()

    def _answer(self, seen: Seen) -> Route:
        json_type = {"Content-Type": "application/json"}
        if self.status != 200:
            return Route(self.status, b'{"error": "scripted"}', json_type)
        if self.kind == "brave":
            ok = seen.path == "/res/v1/web/search" and seen.headers.get("x-subscription-token") == self.key
            body = brave_body(self.hits)
        elif self.kind == "tavily":
            ok = seen.method == "POST" and seen.path == "/search" and \
                seen.headers.get("authorization") == f"Bearer {self.key}"
            body = tavily_body(self.hits)
        else:
            ok = seen.path == "/search" and seen.query.get("format") == ["json"]
            body = searxng_body(self.hits)
        if not ok:
            return Route(401, b'{"error": "unauthorized or wrong route"}', json_type)
        return Route(200, json.dumps(body).encode(), json_type)

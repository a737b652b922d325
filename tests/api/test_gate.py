"""claw.api.gate: the token and the body limit hold before and while a body is read.

These talk raw HTTP/1.1 over a socket, so a test can declare a body and not send it, or send
a chunked body without ever ending it: the server must answer from what it has.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from typing import Any

import httpx
import pytest

from claw.api.app import create_app
from claw.api.errors import MAX_BODY_BYTES
from claw.api.gate import PUBLIC_PATHS
from claw.api.web_routes import PUBLIC_PATHS as PAGE_PATHS
from tests.support.api_server import ApiServer

pytestmark = pytest.mark.parametrize("api_server", ["sqlite"], indirect=True)


def exchange(server: ApiServer, head: str, *chunks: bytes) -> tuple[int, dict[str, Any], float]:
    """Send a request head and some body bytes; return the status, the JSON body, and the
    seconds the answer took after the last byte was sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        for chunk in chunks:
            sock.sendall(chunk)
        sent = time.monotonic()
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
        return response.status, body, time.monotonic() - sent


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def request_head(method: str, path: str, *headers: str) -> str:
    return "\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]) + "\n"


def app_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the app: the operations its OpenAPI schema lists (FastAPI
    builds it from the routes; included routers are not plain routes to walk) and the routes
    left out of the schema (/openapi.json itself)."""
    app = create_app()
    routes = {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}
    for route in app.routes:
        for method in getattr(route, "methods", None) or ():
            routes.add((method, route.path))  # type: ignore[attr-defined]
    return sorted(routes)


def test_every_route_but_the_public_ones_needs_the_token(api_server: ApiServer) -> None:
    # Given every route the app has (its own list, so a new route cannot be forgotten)
    routes = app_routes()
    assert PUBLIC_PATHS == {"/healthz"}, "the README's HTTP API section says which paths are public"
    # and the chat page's files, which hold no data: / and /web/<file>, each named, none a pattern
    assert "/" in PAGE_PATHS and all(path == "/" or path.startswith("/web/") for path in PAGE_PATHS)
    assert not any("{" in path for path in PAGE_PATHS)
    public = PUBLIC_PATHS | PAGE_PATHS
    assert len(routes) >= 19  # the API's 18 operations, /openapi.json (and its HEAD)
    with httpx.Client(base_url=api_server.base_url, timeout=30) as anonymous:
        for method, template in routes:
            path = re.sub(r"\{[^}]+\}", "1", template)
            # When it is called without the token, or with a wrong one
            missing = anonymous.request(method, path, json={})
            wrong = anonymous.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
            # Then only the public ones answer; the others say why not
            if template in public:
                assert missing.status_code == 200, (method, path)
                continue
            for response in (missing, wrong):
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                if method != "HEAD":  # (a HEAD answer has no body)
                    assert "bearer token" in response.json()["error"]


def test_the_schema_needs_the_token_and_the_docs_pages_are_off(api_server: ApiServer) -> None:
    with httpx.Client(base_url=api_server.base_url, timeout=30) as anonymous:
        assert anonymous.get("/openapi.json").status_code == 401
        assert anonymous.get("/docs").status_code == 401
    with api_server.client() as client:
        assert "/v1/messages" in client.get("/openapi.json").json()["paths"]
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 404 and response.json()["error"] == "Not Found"


def test_an_anonymous_request_is_refused_before_its_body_is_read(api_server: ApiServer) -> None:
    # Given a request without the token that announces 50 MB and sends none of it
    head = request_head("POST", "/v1/messages", "Content-Type: application/json",
                        "Content-Length: 50000000")
    # When it reaches the server
    status, body, seconds = exchange(api_server, head)
    # Then the 401 comes at once: the server did not wait for the body
    assert status == 401 and "bearer token" in body["error"]
    assert seconds < 5


def test_an_anonymous_chunked_body_is_refused_at_its_first_chunk(api_server: ApiServer) -> None:
    head = request_head("POST", "/v1/messages", "Content-Type: application/json",
                        "Transfer-Encoding: chunked")
    status, body, seconds = exchange(api_server, head, chunked(b'{"chat_id": "intruder", '))
    assert status == 401 and "bearer token" in body["error"]
    assert seconds < 5


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(api_server: ApiServer) -> None:
    head = request_head("POST", "/v1/messages", f"Authorization: Bearer {api_server.token}",
                        "Content-Type: application/json", f"Content-Length: {MAX_BODY_BYTES + 1}")
    status, body, seconds = exchange(api_server, head)
    assert status == 413 and body["error"] == f"request body larger than {MAX_BODY_BYTES} bytes"
    assert seconds < 5


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(api_server: ApiServer) -> None:
    # Given a chunked body (no Content-Length) that passes the limit and never ends: the last
    # chunk is not sent, so only a server that stops at the limit can answer
    piece = b" " * 65_536
    over = [chunked(piece) for _ in range(MAX_BODY_BYTES // len(piece))] + [chunked(b"  ")]
    head = request_head("POST", "/v1/messages", f"Authorization: Bearer {api_server.token}",
                        "Content-Type: application/json", "Transfer-Encoding: chunked")
    # When it is sent
    status, body, seconds = exchange(api_server, head, *over)
    # Then the 413 comes without the rest of the body, with the usual error field
    assert status == 413 and body["error"] == f"request body larger than {MAX_BODY_BYTES} bytes"
    assert seconds < 5


def test_a_chunked_body_under_the_limit_is_taken(api_server: ApiServer) -> None:
    head = request_head("POST", "/v1/messages", f"Authorization: Bearer {api_server.token}",
                        "Content-Type: application/json", "Transfer-Encoding: chunked")
    status, body, _ = exchange(api_server, head, chunked(b'{"chat_id": "chunks", '),
                               chunked(b'"text": "in two chunks"}'), b"0\r\n\r\n")
    assert status == 202 and body["group_id"] == "http:chunks"

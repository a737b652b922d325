"""Every route of the app checks the token itself, not only behind the Gate.

The Gate (claw.api.gate) refuses anonymous requests before routing; each router also depends
on ``require_token``, so a route stays guarded if the app is ever mounted without the Gate or
the Gate's public paths grow. tests/api/test_gate.py calls every route over HTTP through the
Gate; this one takes the Gate out and calls every route the app lists (its own OpenAPI
operations, so a route added later, a new router or a new schedule action, is covered the day
it is added).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from claw.api.app import create_app
from claw.api.gate import PUBLIC_PATHS, Gate
from claw.config import get_settings

TOKEN = "route-guards-token-0123456789"


@pytest.fixture
def app_without_gate(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[FastAPI]:
    monkeypatch.setenv("CLAW_HOME", str(tmp_path))
    monkeypatch.setenv("CLAW_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    app = create_app()
    app.user_middleware = [m for m in app.user_middleware if m.cls is not Gate]
    yield app
    get_settings.cache_clear()


def test_every_route_but_the_public_ones_refuses_without_the_token_even_without_the_gate(
    app_without_gate: FastAPI,
) -> None:
    # Given every operation the app lists, the Gate taken out (lifespan not run: a refused
    # request never needs Redis or the database)
    operations = [(method.upper(), path) for path, item in app_without_gate.openapi()["paths"].items()
                  for method in item]
    assert len(operations) >= 18
    assert any(path.startswith("/v1/schedules") for _, path in operations)
    client = TestClient(app_without_gate, raise_server_exceptions=False)
    refused_by_route = []
    for method, template in operations:
        if template in PUBLIC_PATHS:
            continue
        path = re.sub(r"\{[^}]+\}", "1", template)
        # When it is called without the token, and with a wrong one
        for headers in ({}, {"Authorization": "Bearer nope"}):
            response = client.request(method, path, json={}, headers=headers)
            # Then the route itself refuses it
            assert response.status_code == 401, (method, path, response.status_code, response.text)
            assert "bearer token" in response.json()["error"]
        refused_by_route.append(template)
    assert refused_by_route


def test_the_docs_pages_are_off_and_the_schema_is_not_public() -> None:
    app = create_app()
    assert (app.docs_url, app.redoc_url) == (None, None)
    assert app.openapi_url not in PUBLIC_PATHS

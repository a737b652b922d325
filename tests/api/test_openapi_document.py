"""The OpenAPI document as a client generator reads it: names, errors, content types, auth."""

from __future__ import annotations

from typing import Any

import pytest

from claw.api.app import create_app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_operation_ids_are_the_handlers_names_and_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    assert {"post_message", "chat_completions", "list_models", "group_events"} <= set(ids)
    assert not [i for i in ids if "_v1_" in i]


def test_every_error_is_documented_with_the_one_error_shape(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        for code, response in op["responses"].items():
            if int(code) < 400:
                continue
            content = response["content"]
            if (path, code) == ("/healthz", "503"):  # degraded: the health report itself
                assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}
                continue
            assert list(content) == ["application/json"], (method, path, code)
            assert set(content["application/json"]["schema"]["required"]) == {"error"}, (method, path, code)


def test_every_route_but_healthz_documents_the_token(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        if path == "/healthz":
            assert "401" not in op["responses"] and "security" not in op
            continue
        assert "401" in op["responses"] and op.get("security") == [{"HTTPBearer": []}], (method, path)


def test_chat_completions_documents_json_and_the_stream(document: dict[str, Any]) -> None:
    op = document["paths"]["/v1/chat/completions"]["post"]
    assert set(op["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert "504" in op["responses"]
    assert set(document["paths"]["/v1/models"]["get"]["responses"]["200"]["content"]) == {"application/json"}

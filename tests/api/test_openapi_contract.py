"""The API against its own OpenAPI schema, with schemathesis generating the input.

Property-based: for every operation, valid and invalid input alike, the server answers
without a 5xx, and every answer's status code, content type and body are the ones the schema
documents (401, 404, 413, 422 with the `error` shape, text/event-stream for events).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.support.api_server import ApiServer

#: examples per operation: ~15 operations × 2 databases stay well under a minute
MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def api_schema(api_server: ApiServer) -> Any:
    return schemathesis.openapi.from_url(f"{api_server.base_url}/openapi.json", headers=api_server.auth)


schema = schemathesis.pytest.from_fixture("api_schema")


def _bounded_waits(case: Any) -> None:
    # No worker runs here, so a valid ?wait= or ?seconds= would only sleep out its full value.
    for name, ceiling in (("wait", 0.2), ("seconds", 0.5)):
        value = (case.query or {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > ceiling:
            case.query[name] = ceiling


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_no_input_gets_a_5xx_and_every_answer_is_documented(case: Any, api_server: ApiServer) -> None:
    _bounded_waits(case)
    case.call_and_validate(headers=api_server.auth, timeout=30)
    assert api_server.crashes() == []

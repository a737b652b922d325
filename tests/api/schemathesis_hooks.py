"""Schemathesis hooks for the contract test (loaded through SCHEMATHESIS_HOOKS).

No worker runs behind the API under test, so a valid ``?wait=`` (POST /v1/messages) or
``?seconds=`` (the events stream, an hour when not given) or a chat completion's ``?wait=``
(two minutes when not given) would only sleep out its full
value: valid values are shortened, invalid ones (which must get a 422) are sent as generated.
"""

from __future__ import annotations

from typing import Any

import schemathesis

#: parameter -> (largest valid value, what a valid value is shortened to)
SHORTENED = {"wait": (120.0, 0.2), "seconds": (3600.0, 0.5)}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.operation.path.endswith("/events") and "seconds" not in (case.query or {}):
        case.query = {**(case.query or {}), "seconds": SHORTENED["seconds"][1]}
    if case.operation.path.endswith("/chat/completions") and "wait" not in (case.query or {}):
        case.query = {**(case.query or {}), "wait": SHORTENED["wait"][1]}
    for name, (valid_up_to, shortened) in SHORTENED.items():
        value = _number((case.query or {}).get(name))
        if value is not None and shortened < value <= valid_up_to:
            case.query[name] = shortened

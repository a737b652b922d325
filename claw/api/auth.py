"""Bearer-token check for every route except the public ones (/healthz).

The check runs twice on purpose: in the Gate middleware (claw.api.gate), before the request's
body is read, and as each router's dependency, which also puts the bearer scheme in the
OpenAPI schema and guards a router mounted without the gate.
"""

from __future__ import annotations

import secrets

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from claw.config import get_settings

UNAUTHORIZED = "missing or wrong bearer token (Authorization: Bearer <CLAW_API_TOKEN>)"
CHALLENGE = {"WWW-Authenticate": "Bearer"}

_bearer = HTTPBearer(auto_error=False)


def token_matches(given: str) -> bool:
    """Whether ``given`` is the API token; without a configured token nothing matches."""
    try:
        expected = get_settings().api_token_value()
    except RuntimeError:  # no CLAW_API_TOKEN and no token file: refuse, never crash
        return False
    return bool(given) and secrets.compare_digest(given.encode(), expected.encode())


def authorization_matches(header: str | None) -> bool:
    """Whether an ``Authorization`` header carries the API token as a bearer token."""
    scheme, token = get_authorization_scheme_param(header)
    return scheme.lower() == "bearer" and token_matches(token)


def require_token(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> None:
    if credentials is None or not token_matches(credentials.credentials):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=UNAUTHORIZED, headers=CHALLENGE)

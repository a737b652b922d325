"""The API's front door: the token is checked, and a declared body size, before any body is read.

FastAPI reads a request's body before it resolves the route's dependencies, so the token
dependency alone would let an anonymous client make the server take in (up to the limit) a
body it then refuses. This pure ASGI middleware answers from the headers alone: 401 without a
valid bearer token (every path but PUBLIC_PATHS, unknown ones too, so routes cannot be probed),
413 for a Content-Length over the limit. A body without Content-Length (chunked) is counted
as it is read by Starlette's RequestBodyLimitMiddleware, which stops at the limit; both give
the same 413 with an ``error`` (claw.api.errors).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from claw.api.auth import CHALLENGE, UNAUTHORIZED, authorization_matches
from claw.api.errors import MAX_BODY_BYTES, error_response

#: the only API paths answered without the token (the README's HTTP API section says so);
#: claw.api.app adds the chat page's files (claw.api.web_routes.PUBLIC_PATHS), which hold no data
PUBLIC_PATHS = frozenset({"/healthz"})


class Gate:
    def __init__(
        self, app: ASGIApp, *, public_paths: frozenset[str] = PUBLIC_PATHS,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.public_paths = public_paths
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["path"] not in self.public_paths and not authorization_matches(
            headers.get("authorization")
        ):
            await error_response(401, UNAUTHORIZED, headers=CHALLENGE)(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None and not (length.isascii() and length.isdigit()):  # not "²", which int() refuses
            # (rarely gets here: the HTTP server refuses a malformed Content-Length first)
            await error_response(400, f"malformed Content-Length {length[:40]!r}")(scope, receive, send)
            return
        if length is not None and int(length) > self.max_body_bytes:
            message = f"request body larger than {self.max_body_bytes} bytes"
            await error_response(413, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)

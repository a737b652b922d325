"""A group id may hold '/' (``terminal:a/b``): clients send it escaped (``%2F``), but Starlette
routes on the decoded path, where that '/' would split the id and every route of the group
would answer 404. For ``/v1/groups/<id>/…`` this routes on the id as the client sent it (still
escaped); ``GroupId`` (claw.api.schemas) unescapes it, so a handler sees the real id."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = b"/v1/groups/"


def unescape_group_id(value: object) -> object:
    """The id a client escaped in the path (``terminal:a%2Fb`` → ``terminal:a/b``)."""
    return unquote(value, errors="strict") if isinstance(value, str) and "%" in value else value


class GroupIdPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw and raw.startswith(PREFIX):
            head, slash, rest = raw[len(PREFIX):].partition(b"/")
            if b"%" in head:
                path = (PREFIX + head).decode("utf-8", "replace")
                if slash:
                    path += "/" + unquote(rest.decode("utf-8", "replace"))
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)

"""The web_fetch and web_search actions: code in the sandbox, which has no network, asks the
host to read a page or search, under the same checks as the agent's tools (claw/webtools).

A group whose settings say ``"web": false`` is refused, as is one whose ``ipc_actions`` leave
them out. Nothing is changed by either, so a result is journaled only for the replay of a
redone turn (by the host, after the handler returns).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from claw.db import Group, read_session
from claw.sandbox.ipc.actions import ActionContext, ActionError, register
from claw.sandbox.ipc.policy import ActionDenied
from claw.webtools import (
    FetchError,
    FetchLimits,
    SearchError,
    SearchProvider,
    fetch_page,
    web_enabled,
)


class WebFetchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)


class WebSearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=400)
    count: int = Field(default=5, ge=1, le=10)


def _check_web_allowed(ctx: ActionContext) -> None:
    with read_session() as session:
        group = session.get(Group, ctx.identity.group_id)
        allowed = web_enabled(group.settings if group is not None else None)
    if not allowed:
        raise ActionDenied(f"group {ctx.identity.group_id} has the web switched off (its settings)")


def web_fetch(ctx: ActionContext, args: WebFetchArgs) -> dict[str, Any]:
    _check_web_allowed(ctx)
    try:
        page = fetch_page(args.url, FetchLimits.from_settings(ctx.settings))
    except FetchError as exc:
        raise ActionError(str(exc)) from None
    return {"url": page.url, "status": page.status, "content_type": page.content_type,
            "title": page.title, "text": page.text, "truncated": page.truncated}


def web_search(ctx: ActionContext, args: WebSearchArgs) -> dict[str, Any]:
    _check_web_allowed(ctx)
    try:
        provider = SearchProvider.from_settings(ctx.settings)
        if provider is None:
            raise ActionError("web search is not configured on the host (CLAW_SEARCH_PROVIDER)")
        hits = provider.search(args.query, args.count)
    except SearchError as exc:
        raise ActionError(str(exc)) from None
    return {"results": [{"title": h.title, "url": h.url, "snippet": h.snippet} for h in hits]}


register("web_fetch", WebFetchArgs, web_fetch, priority=60)
register("web_search", WebSearchArgs, web_search, priority=60)

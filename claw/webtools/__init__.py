"""The agent's way onto the web: web_fetch (one page as text) and web_search (a provider).

Used by the agent's tools (claw/agent/tools/web.py) and by the sandbox's IPC actions
(claw/sandbox/ipc/web.py), so code in the sandbox reaches the web only through the host's
checks. A group's ``settings["web"] = false`` switches both off for that group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claw.webtools.addresses import AddressRefused, checked_addresses, refusal, system_resolver
from claw.webtools.fetch import FetchError, FetchLimits, WebPage, fetch_page
from claw.webtools.search import SearchError, SearchHit, SearchProvider, render_hits

__all__ = [
    "AddressRefused",
    "FetchError",
    "FetchLimits",
    "SearchError",
    "SearchHit",
    "SearchProvider",
    "WebPage",
    "checked_addresses",
    "fetch_page",
    "refusal",
    "render_hits",
    "system_resolver",
    "web_enabled",
]

#: the key of groups.settings that switches a group's web access off
WEB_SETTING = "web"


def web_enabled(group_settings: Mapping[str, Any] | None) -> bool:
    """Whether a group may use the web tools (on unless its settings say ``"web": false``)."""
    return (group_settings or {}).get(WEB_SETTING, True) is not False

"""The chat page: ``/`` and its files under ``/web/``, public because they hold no data.

The page (claw/web/) logs in with the API token and sends it with every data call, as any
other client; what this module serves is the same for everyone. The files are listed once, at
import, from the package folder: only those paths are public (the Gate answers any other
unknown path with a 401, as before), so no request path is ever joined to a folder.

Every answer carries a Content-Security-Policy that allows scripts and styles from this origin
only, never inline: should a message's HTML slip past the page's sanitizer, an ``onerror=`` or
``<script>`` in it still does not run.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

WEB_DIR = Path(str(files("claw") / "web"))
#: the page's own URL prefix for its files; the page itself is at ``/``
PREFIX = "/web/"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # a new claw version's page is picked up at the next load, never a stale mix of files
    "Cache-Control": "no-cache",
}


def _page_files() -> dict[str, Path]:
    """URL path → file, for every file of the page a browser may ask for."""
    found = {
        PREFIX + path.relative_to(WEB_DIR).as_posix(): path
        for path in sorted(WEB_DIR.rglob("*"))
        if path.is_file() and path.suffix in CONTENT_TYPES
    }
    found["/"] = WEB_DIR / "index.html"
    return found


PAGE_FILES = _page_files()
#: paths the Gate lets through without the token (claw.api.app adds them to /healthz)
PUBLIC_PATHS = frozenset(PAGE_FILES)

router = APIRouter(include_in_schema=False)


def _serve(path: Path) -> Response:
    return Response(path.read_bytes(), media_type=CONTENT_TYPES[path.suffix], headers=SECURITY_HEADERS)


def _add_route(url: str, path: Path) -> None:
    async def serve_file() -> Response:
        return _serve(path)

    router.add_api_route(url, serve_file, methods=["GET"], name=f"page {url}")


for _url, _path in PAGE_FILES.items():
    _add_route(_url, _path)

"""web_fetch: one web page as readable text, never from this machine or its network.

Each hop (the URL, then every redirect, followed here and at most ``MAX_REDIRECTS`` times) is
checked the same way: http or https only, the host resolved and every address checked
(claw/webtools/addresses.py), and then the connection goes to the checked address itself,
with the URL's host in the Host header and as the TLS server name (so the certificate is
still verified for the name). Proxies from the environment are ignored: they would connect
wherever they like. The body is read as a stream and stopped at ``web_max_bytes``; the whole
fetch, redirects included, gets ``web_timeout`` seconds; only text types are read.

The deadline holds for every socket operation (a server trickling its headers one byte at a
time cannot stretch it: each read waits at most until the deadline), and a compressed body is
decompressed here, one layer of gzip or deflate at most and never past ``web_max_bytes``, so a
few kilobytes that would inflate to gigabytes (a gzip bomb, or gzip inside gzip) cost nothing.

The text is extracted with trafilatura (boilerplate, menus and scripts dropped); a page it
finds no article in falls back to trafilatura's plain html2txt.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from claw.webtools.addresses import (
    AddressRefused,
    IPAddress,
    Resolver,
    checked_addresses,
    parse_allow_hosts,
    system_resolver,
)

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
USER_AGENT = "claw-web-fetch/0.1 (+a personal assistant reading one page for its user)"
#: media types read as text; anything else (images, PDFs, archives) is refused unread
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = HTML_TYPES | frozenset({
    "text/plain", "text/markdown", "text/csv", "text/xml", "application/xml", "application/json",
    "application/ld+json", "application/rss+xml", "application/atom+xml",
})


class FetchError(Exception):
    """The page could not be fetched; the message says why, for the model and the user."""


@dataclass(frozen=True, slots=True)
class WebPage:
    url: str  #: after redirects
    status: int
    content_type: str
    title: str | None
    text: str
    truncated: bool  #: the body was cut at the size limit, or the text at the character limit

    def render(self) -> str:
        head = f"{self.title}\n{self.url}" if self.title else self.url
        note = "\n[… cut: the page is longer than the limit]" if self.truncated else ""
        return f"{head}\n\n{self.text}{note}"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 2_000_000
    timeout: float = 15.0
    max_chars: int = 12_000
    allow_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings) -> FetchLimits:  # type: ignore[no-untyped-def]
        return cls(settings.web_max_bytes, settings.web_timeout, settings.web_max_chars,
                   parse_allow_hosts(settings.web_allow_hosts))


def _target(url: str) -> tuple[str, str, int]:
    """The scheme, host and port of ``url``; FetchError for what web_fetch does not do."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs can be fetched, not {scheme or 'a URL without a scheme'}")
    if parts.username or parts.password:
        raise FetchError("URLs with a user name or password are not fetched")
    host = parts.hostname or ""
    if not host:
        raise FetchError("the URL has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def ascii_host(host: str) -> str:
    """The host as it goes on the wire: an internationalised name in its IDNA (xn--) form."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchError(f"{host!r} is not a valid host name") from None


def _pinned(url: str, host: str, address: IPAddress) -> tuple[str, dict[str, str], dict[str, bytes]]:
    """The URL with ``address`` in place of the host, the Host header and the TLS server name."""
    parts = urlsplit(url)
    literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    name = ascii_host(host)
    named = f"[{name}]" if ":" in name else name
    host_header = f"{named}:{parts.port}" if parts.port else named
    extensions: dict[str, bytes] = {}
    if parts.scheme.lower() == "https":
        extensions["sni_hostname"] = name.encode("ascii")
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return pinned, {"Host": host_header}, extensions


def fetch_page(url: str, limits: FetchLimits, *, resolver: Resolver = system_resolver,
               tls: ssl.SSLContext | None = None) -> WebPage:
    """Fetch ``url`` under ``limits`` and return its readable text (FetchError otherwise).

    ``tls`` replaces the system's trust store (tests trust their own certificate authority).
    """
    deadline = time.monotonic() + limits.timeout
    current = url.strip()
    for _ in range(MAX_REDIRECTS + 1):
        scheme, host, port = _target(current)
        try:
            addresses = checked_addresses(ascii_host(host) if ":" not in host else host, port,
                                          allowed=limits.allow_hosts, resolver=resolver)
        except AddressRefused as exc:
            raise FetchError(f"refused: {exc}") from None
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(f"timed out after {limits.timeout:g} s")
        # a client per hop: its pool is keyed by the address, so a connection whose certificate
        # was checked for one name must not carry the next hop's request for another
        transport = _DeadlineTransport(deadline, verify=tls if tls is not None else True)
        with httpx.Client(transport=transport, follow_redirects=False, timeout=httpx.Timeout(left),
                          headers={"User-Agent": USER_AGENT}) as client:
            pinned, headers, extensions = _pinned(current, host, addresses[0])
            try:
                request = client.build_request("GET", pinned, extensions=extensions, headers={
                    **headers, "Accept": _ACCEPT, "Accept-Encoding": _ACCEPT_ENCODING})
            except httpx.InvalidURL as exc:  # control characters, an over-long URL (here or in a Location)
                raise FetchError(f"not a valid URL: {exc}") from None
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException:
                raise FetchError(f"timed out after {limits.timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"could not connect to {host}: {type(exc).__name__}: {exc}") from None
            try:
                if not response.is_redirect:
                    return _read(response, current, limits, deadline)
                current = urljoin(current, response.headers["location"])
                log.debug("web_fetch_redirect status=%d", response.status_code)
            finally:
                response.close()
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.8,*/*;q=0.1"
_ACCEPT_ENCODING = "gzip"


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most until the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner, self._deadline = inner, deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the fetch's deadline has passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: float) -> None:
        self._inner, self._deadline = httpcore.SyncBackend(), deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:  # type: ignore[no-untyped-def]
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the fetch's deadline has passed")
        stream = self._inner.connect_tcp(host, port, left if timeout is None else min(timeout, left),
                                         local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options=None) -> httpcore.NetworkStream:  # type: ignore[no-untyped-def]
        raise httpcore.ConnectError("web_fetch does not use unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport (no proxies from the environment) over connections bound by ``deadline``."""

    def __init__(self, deadline: float, *, verify: ssl.SSLContext | bool) -> None:
        super().__init__(verify=verify, trust_env=False)
        context = self._pool._ssl_context  # the context httpx built from ``verify``
        self._pool = httpcore.ConnectionPool(ssl_context=context, max_connections=1,
                                             network_backend=_DeadlineBackend(deadline))


def _decoder(encoding: str) -> zlib._Decompress | None:
    """A decompressor for the response's Content-Encoding (None: not compressed)."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header, detected
    raise FetchError(f"the page is sent encoded as {encoding!r}; web_fetch reads plain, gzip or deflate only")


def _read(response: httpx.Response, url: str, limits: FetchLimits, deadline: float) -> WebPage:
    media_type = response.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if response.status_code >= 400:
        raise FetchError(f"the server answered {response.status_code} {response.reason_phrase}".rstrip())
    if media_type not in TEXT_TYPES:
        raise FetchError(f"the page is {media_type}, not text; web_fetch reads only text and HTML")
    decoder = _decoder(response.headers.get("content-encoding", ""))
    body = bytearray()
    truncated = False
    try:
        # raw bytes, decompressed here with a bound on the output (httpx's own decoding would
        # inflate a whole chunk at once, however large it becomes)
        for raw in response.iter_raw():
            if decoder is not None:
                try:
                    chunk = decoder.decompress(raw, limits.max_bytes - len(body) + 1)
                except zlib.error:
                    raise FetchError("the page's compressed body is broken") from None
            else:
                chunk = raw
            body += chunk
            if len(body) >= limits.max_bytes:
                del body[limits.max_bytes:]
                truncated = True
                break
            if time.monotonic() > deadline:
                raise FetchError(f"timed out after {limits.timeout:g} s while reading the page")
    except httpx.TimeoutException:
        raise FetchError(f"timed out after {limits.timeout:g} s while reading the page") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"the page broke off: {type(exc).__name__}") from None
    declared = response.charset_encoding  # None: trafilatura reads <meta charset> or guesses
    title, text = _extract(bytes(body), media_type, declared)
    if len(text) > limits.max_chars:
        text, truncated = text[: limits.max_chars], True
    return WebPage(url, response.status_code, media_type, title, text.strip() or "(the page has no text)",
                   truncated)


def _decode(body: bytes, encoding: str) -> str:
    try:
        return body.decode(encoding, errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def _extract(body: bytes, media_type: str, encoding: str | None) -> tuple[str | None, str]:
    if media_type not in HTML_TYPES:
        return None, _decode(body, encoding or "utf-8")
    import trafilatura  # a few hundred ms to import: only where a page is read

    html: str | bytes = _decode(body, encoding) if encoding else body
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    if not text:
        text = trafilatura.html2txt(html) or ""
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None and metadata.title else None
    return title, text

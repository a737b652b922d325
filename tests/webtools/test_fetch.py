"""web_fetch against fake sites on 127.0.0.1 (allowed by CLAW_WEB_ALLOW_HOSTS's setting).

Refusals use a stub resolver and fail before connecting: the fake site's request log, and a
resolver that maps the refused names to nowhere real, show that nothing was sent.
"""

from __future__ import annotations

import gzip
import resource
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator

import pytest
import trustme

from claw.webtools.addresses import parse_allow_hosts
from claw.webtools.fetch import MAX_REDIRECTS, FetchError, FetchLimits, fetch_page
from tests.support.fake_web import FakeSite

ARTICLE = """<!doctype html><html><head><title>Otters of the Elbe</title></head><body>
<nav><a href="/">Home</a> <a href="/shop">Shop</a> Menu Menu Menu</nav>
<article><h1>Otters of the Elbe</h1>
<p>Otters came back to the Elbe in the nineties, after the river was cleaned up.</p>
<p>Today about two hundred live between Dresden and Hamburg, counted by their tracks.</p>
<script>document.write("TRACKING-SCRIPT")</script>
</article><footer>Cookie banner: accept all cookies</footer></body></html>"""

LOCAL = FetchLimits(allow_hosts=frozenset({"127.0.0.1", "site.test"}))


@pytest.fixture
def site() -> Iterator[FakeSite]:
    fake = FakeSite().start()
    yield fake
    fake.stop()


def test_a_page_becomes_its_readable_text(site: FakeSite) -> None:
    page = fetch_page(site.page("/otters", ARTICLE), LOCAL)
    assert page.status == 200 and page.content_type == "text/html"
    assert "about two hundred live between Dresden and Hamburg" in page.text
    assert "TRACKING-SCRIPT" not in page.text and "document.write" not in page.text
    assert "Otters of the Elbe" in page.render()


def test_redirects_are_followed_and_each_hop_is_checked(site: FakeSite) -> None:
    site.page("/otters", ARTICLE)
    site.route("/old", 301, headers={"Location": "/otters"})
    page = fetch_page(f"{site.url}/old", LOCAL)
    assert page.url == f"{site.url}/otters" and "Dresden" in page.text

    site.route("/to-metadata", 302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    site.route("/to-lan", 307, headers={"Location": "http://intranet.test/admin"})
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return {"intranet.test": ["10.20.30.40"]}[host]

    with pytest.raises(FetchError, match="169.254.169.254, a link-local address"):
        fetch_page(f"{site.url}/to-metadata", LOCAL, resolver=resolver)
    with pytest.raises(FetchError, match="10.20.30.40, a private address"):
        fetch_page(f"{site.url}/to-lan", LOCAL, resolver=resolver)
    assert lookups == ["intranet.test"]


def test_a_redirect_loop_stops(site: FakeSite) -> None:
    site.route("/loop", 302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match=f"more than {MAX_REDIRECTS} redirects"):
        fetch_page(f"{site.url}/loop", LOCAL)
    assert len(site.requests) == MAX_REDIRECTS + 1


def test_the_connection_goes_to_the_checked_address_with_the_names_host_header(site: FakeSite) -> None:
    # site.test exists only in the stub: the page can only arrive if the fetch connected to
    # the address the check saw, rather than looking the name up again
    site.page("/otters", ARTICLE)
    port = site.server.server_address[1]
    page = fetch_page(f"http://site.test:{port}/otters", LOCAL, resolver=lambda h, p: ["127.0.0.1"])
    assert "Dresden" in page.text
    assert site.requests[-1].headers["host"] == f"site.test:{port}"
    assert page.url == f"http://site.test:{port}/otters"


def test_a_name_that_rebinds_to_loopback_is_refused_without_traffic(site: FakeSite) -> None:
    port = site.server.server_address[1]
    with pytest.raises(FetchError, match="a loopback address"):
        fetch_page(f"http://evil.test:{port}/", FetchLimits(), resolver=lambda h, p: ["127.0.0.1"])
    assert site.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://example.org/",
                                 "javascript:alert(1)", "example.org/page", "http://user:pw@example.org/"])
def test_only_plain_http_and_https_urls(url: str) -> None:
    with pytest.raises(FetchError, match="only http and https|user name or password"):
        fetch_page(url, FetchLimits(), resolver=lambda h, p: pytest.fail("no lookup"))


def test_non_text_content_is_refused_unread(site: FakeSite) -> None:
    url = site.route("/photo", 200, b"\x89PNG\r\n\x1a\n" + b"\0" * 1000, content_type="image/png")
    with pytest.raises(FetchError, match="image/png, not text"):
        fetch_page(url, LOCAL)


def test_a_large_page_is_cut_at_the_byte_limit(site: FakeSite) -> None:
    url = site.route("/big", 200, "word " * 400_000, content_type="text/plain")  # 2 MB
    page = fetch_page(url, FetchLimits(max_bytes=10_000, max_chars=50_000, allow_hosts=LOCAL.allow_hosts))
    assert page.truncated and len(page.text) <= 10_000
    assert "cut: the page is longer" in page.render()


def test_a_slow_page_times_out(site: FakeSite) -> None:
    url = site.route("/slow", 200, "x" * 400, content_type="text/plain", trickle=10)  # ~2 s
    with pytest.raises(FetchError, match="timed out after 0.5 s"):
        fetch_page(url, FetchLimits(timeout=0.5, allow_hosts=LOCAL.allow_hosts))


def test_http_errors_say_the_status(site: FakeSite) -> None:
    with pytest.raises(FetchError, match="404"):
        fetch_page(f"{site.url}/missing", LOCAL)


def test_https_goes_to_the_checked_address_with_the_urls_name_for_tls(site: FakeSite) -> None:
    # Given an HTTPS site whose certificate names site.test, served on 127.0.0.1
    authority = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("site.test").configure_cert(server_tls)
    names: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: names.append(name)
    site.server.block_on_close = False  # a refused handshake's thread is not waited for
    site.server.handle_error = lambda request, address: None  # the refused handshake below
    site.server.socket = server_tls.wrap_socket(site.server.socket, server_side=True,
                                                do_handshake_on_connect=False)
    # closed after the answer: an idle TLS keep-alive connection would hold up the server's stop
    site.route("/otters", 200, ARTICLE, headers={"Connection": "close"})
    port = site.server.server_address[1]
    client_tls = ssl.create_default_context()
    authority.configure_trust(client_tls)
    # When it is fetched by name (the name known only to the stub resolver)
    page = fetch_page(f"https://site.test:{port}/otters", LOCAL, resolver=lambda h, p: ["127.0.0.1"],
                      tls=client_tls)
    # Then the connection went to the checked address, named site.test in TLS and in Host
    assert "Dresden" in page.text
    assert names == ["site.test"] and site.requests[-1].headers["host"] == f"site.test:{port}"
    # And the certificate is checked against that name: another name's certificate is refused
    with pytest.raises(FetchError, match="could not connect to other.test"):
        fetch_page(f"https://other.test:{port}/otters", FetchLimits(allow_hosts=frozenset({"other.test"})),
                   resolver=lambda h, p: ["127.0.0.1"], tls=client_tls)


def test_an_international_name_is_looked_up_and_sent_in_its_idna_form(site: FakeSite) -> None:
    site.page("/otters", ARTICLE)
    port = site.server.server_address[1]
    looked_up: list[str] = []

    def resolver(host: str, p: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    allowed = FetchLimits(allow_hosts=parse_allow_hosts("Bücher.test, 10.0.0.1"))
    page = fetch_page(f"http://bücher.test:{port}/otters", allowed, resolver=resolver)
    assert "Dresden" in page.text and looked_up == ["xn--bcher-kva.test"]
    assert site.requests[-1].headers["host"] == f"xn--bcher-kva.test:{port}"


def test_the_pages_own_charset_is_honoured(site: FakeSite) -> None:
    latin = ("<html><head><meta charset='iso-8859-1'><title>Grüße</title></head><body><article>"
             "<p>Die Fähre nach Övelgönne fährt stündlich, auch am Wochenende, bei jedem Wetter.</p>"
             "</article></body></html>").encode("iso-8859-1")
    page = fetch_page(site.route("/latin", 200, latin, content_type="text/html"), LOCAL)
    assert "Die Fähre nach Övelgönne fährt stündlich" in page.text
    declared = site.route("/declared", 200, latin, content_type="text/html; charset=iso-8859-1")
    assert "Övelgönne" in fetch_page(declared, LOCAL).text


def _zeros_gzipped(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


def test_a_gzipped_page_is_read_and_a_gzip_bomb_inflates_only_to_the_byte_limit(site: FakeSite) -> None:
    plain = site.route("/gz", 200, gzip.compress(b"otters " * 1000), content_type="text/plain",
                       headers={"Content-Encoding": "gzip"})
    assert fetch_page(plain, LOCAL).text.startswith("otters otters")
    assert site.requests[-1].headers["accept-encoding"] == "gzip"

    bomb = _zeros_gzipped(512)  # ~500 KB on the wire, 512 MiB inflated
    url = site.route("/bomb", 200, bomb, content_type="text/plain", headers={"Content-Encoding": "gzip"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    page = fetch_page(url, FetchLimits(max_bytes=100_000, allow_hosts=LOCAL.allow_hosts))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert page.truncated and grown_mb < 40  # httpx's own decoding held ~64 MB per 64 KB chunk


def test_gzip_inside_gzip_and_unknown_encodings_are_refused_unread(site: FakeSite) -> None:
    # 7 KB that inflate to 4 GiB when each layer is decoded whole, as httpx does
    layered = gzip.compress(_zeros_gzipped(64), 9)
    url = site.route("/bomb2", 200, layered, content_type="text/plain", headers={"Content-Encoding": "gzip, gzip"})
    with pytest.raises(FetchError, match="encoded as 'gzip, gzip'"):
        fetch_page(url, LOCAL)
    url = site.route("/br", 200, b"\x0b\x02\x80hi\x03", content_type="text/plain", headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="encoded as 'br'"):
        fetch_page(url, LOCAL)


def test_headers_trickled_a_byte_at_a_time_cannot_stretch_the_deadline() -> None:
    # each read succeeds well within a per-read timeout; only a deadline on the whole fetch stops it
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.2):
                try:
                    conn.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="timed out after 1 s"):
            fetch_page(url, FetchLimits(timeout=1.0, allow_hosts=LOCAL.allow_hosts))
        assert time.monotonic() - started < 2.0
    finally:
        stop.set()
        listener.close()
        thread.join(5)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/a\x7fb", "http://127.0.0.1:1/a\x00b", "http://127.0.0.1:1/" + "a" * 70_000])
def test_a_url_httpx_cannot_send_is_a_fetch_error(url: str) -> None:
    with pytest.raises(FetchError, match="not a valid URL"):
        fetch_page(url, LOCAL)


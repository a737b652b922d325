"""Which addresses web_fetch may connect to: public unicast ones only.

A page the model asks for must never reach this machine or the network it sits in (the
Redis broker, the database, a cloud's metadata service, a router's admin page). So a name is
resolved here, every address it resolves to is checked, and the fetch then connects to the
checked address itself (claw/webtools/fetch.py): no second lookup between check and connect
can be answered differently (DNS rebinding).

Refused: loopback, private (RFC 1918, ULA), link-local (169.254/16 holds the metadata
services), CGNAT (100.64/10, Alibaba's metadata), multicast, reserved, unspecified,
documentation and benchmarking ranges, and any IPv6 address that carries one of those as an
IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64). ``CLAW_WEB_ALLOW_HOSTS``
names hosts that are allowed anyway (a SearXNG on the LAN, the tests' fake sites).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: resolves (host, port) to addresses; tests stub it so no refusal test sends real traffic
Resolver = Callable[[str, int], list[str]]

#: hosts refused by name, whatever they resolve to
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal", "localhost", "localhost.localdomain"})

_REFUSED_V4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
)]
_REFUSED_V6 = [ipaddress.ip_network(n) for n in (
    "::/128", "::1/128", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    "2001::/23",  # IETF protocol assignments (Teredo's 2001::/32 is unpacked below)
    # the rest of ::/8 (reserved; its IPv4-mapped and -compatible forms are unpacked below), e.g.
    # SIIT's IPv4-translated ::ffff:0:a.b.c.d, which a translator on the path turns into IPv4
    "::/8",
)]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address web_fetch must not reach."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it carries one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routable)
        return ipaddress.IPv4Address(packed)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be fetched from, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped (link-local) IPv6 address"
        inner = embedded_ipv4(address)
        if inner is not None:
            why = refusal(inner)
            return f"it carries {inner}, {why}" if why else None
        if address in _NAT64_LOCAL or any(address in n for n in _REFUSED_V6):
            return _kind(address)
        return None
    if any(address in n for n in _REFUSED_V4):
        return _kind(address)
    return None


def _kind(address: IPAddress) -> str:
    for name in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{name}"):
            return f"a {name.replace('_', '-')} address"
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"):
        return "a carrier-grade NAT address"
    return "not a public address"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (both families)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_allow_hosts(value: str | None) -> frozenset[str]:
    """CLAW_WEB_ALLOW_HOSTS as the names fetch compares: lower case, IDNA form, no brackets."""
    hosts = set()
    for entry in (value or "").split(","):
        host = entry.strip().lower().strip("[]")
        if host:
            try:
                hosts.add(host if ":" in host else host.encode("idna").decode("ascii"))
            except UnicodeError:
                hosts.add(host)
    return frozenset(hosts)


def checked_addresses(host: str, port: int, *, allowed: Iterable[str] = (),
                      resolver: Resolver = system_resolver) -> list[IPAddress]:
    """The addresses of ``host`` to connect to, all checked; AddressRefused if any is refused.

    All must pass, not one: a name that resolves to a public and a private address would
    otherwise be a coin toss away from the private one.
    """
    name = host.lower().rstrip(".").strip("[]")
    if not name:
        raise AddressRefused("the URL has no host")
    allow = name in set(allowed)
    if not allow and (name in METADATA_NAMES or name.endswith((".localhost", ".internal", ".local"))):
        raise AddressRefused(f"{host} is a local or cloud-metadata name")
    try:
        literal = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    if literal is not None:
        found: list[IPAddress] = [literal]
    else:
        try:
            found = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(name, port)]
        except (OSError, UnicodeError) as exc:
            raise AddressRefused(f"cannot resolve {host}: {exc}") from None
        if not found:
            raise AddressRefused(f"{host} resolves to no address")
    if allow:
        return found
    for address in found:
        why = refusal(address)
        if why:
            raise AddressRefused(f"{host} is {address}, {why}; web_fetch only reaches public addresses")
    return found

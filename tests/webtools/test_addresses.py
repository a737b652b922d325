"""Which addresses web_fetch refuses. Pure checks: nothing here opens a connection, and the
names are resolved by a stub (numeric host forms by the system's parser, which sends nothing)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from claw.webtools.addresses import AddressRefused, checked_addresses, refusal

REFUSED = [
    "127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254",  # AWS, GCP and Azure metadata
    "100.64.0.1", "100.100.100.200",  # CGNAT; Alibaba's metadata
    "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::", "::1", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:0:127.0.0.1", "::ffff:0:169.254.169.254", "::ffff:0:0:10.0.0.1",  # SIIT, and the rest of ::/8
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, server 65.54.227.120, client 192.0.2.45
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8",
          "64:ff9b::808:808", "172.32.0.1", "100.128.0.1"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(AddressRefused, match="only reaches public addresses"):
        checked_addresses(address, 80, resolver=_no_lookup)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
    assert checked_addresses(address, 443, resolver=_no_lookup) == [ipaddress.ip_address(address)]


def _no_lookup(host: str, port: int) -> list[str]:
    raise AssertionError(f"an IP literal {host} must not be looked up")


def stub(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"stub: no such name {host}")
        return table[host]
    return resolve


def test_a_name_is_refused_if_any_of_its_addresses_is_private() -> None:
    resolver = stub({"split.test": ["93.184.215.14", "10.0.0.5"], "public.test": ["93.184.215.14"]})
    with pytest.raises(AddressRefused, match="10.0.0.5"):
        checked_addresses("split.test", 80, resolver=resolver)
    assert [str(a) for a in checked_addresses("public.test", 80, resolver=resolver)] == ["93.184.215.14"]


@pytest.mark.parametrize("host", ["localhost", "metadata.google.internal", "printer.local", "x.localhost"])
def test_local_and_metadata_names_are_refused_before_any_lookup(host: str) -> None:
    with pytest.raises(AddressRefused, match="local or cloud-metadata name"):
        checked_addresses(host, 80, resolver=_no_lookup)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "017700000001", "127.1"])
def test_numeric_spellings_of_loopback_are_refused(host: str) -> None:
    # the system's parser turns these into 127.0.0.1 (numeric only: no query leaves the machine)
    def numeric_only(name: str, port: int) -> list[str]:
        return [str(i[4][0]) for i in socket.getaddrinfo(name, port, flags=socket.AI_NUMERICHOST)]

    with pytest.raises(AddressRefused, match="loopback"):
        checked_addresses(host, 80, resolver=numeric_only)


def test_allow_hosts_lets_a_named_host_through_and_only_it() -> None:
    resolver = stub({"searx.lan": ["192.168.1.20"], "other.lan": ["192.168.1.21"]})
    allowed = {"searx.lan", "127.0.0.1"}
    assert [str(a) for a in checked_addresses("SEARX.lan", 80, allowed=allowed, resolver=resolver)] == [
        "192.168.1.20"]
    assert [str(a) for a in checked_addresses("127.0.0.1", 80, allowed=allowed, resolver=resolver)] == [
        "127.0.0.1"]
    with pytest.raises(AddressRefused):
        checked_addresses("other.lan", 80, allowed=allowed, resolver=resolver)
    with pytest.raises(AddressRefused):  # allowing 127.0.0.1 allows that literal, not loopback
        checked_addresses("127.0.0.2", 80, allowed=allowed, resolver=resolver)


def test_an_unresolvable_name_is_a_clear_refusal() -> None:
    with pytest.raises(AddressRefused, match="cannot resolve nowhere.test"):
        checked_addresses("nowhere.test", 80, resolver=stub({}))

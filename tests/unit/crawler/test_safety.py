"""Unit tests of the crawler's address classifier and allow list."""

from __future__ import annotations

import ipaddress

import pytest

from crawler.safety import AddressClass, AllowList, check_addresses, classify, parse_ip


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    parsed = parse_ip(text)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", AddressClass.LOOPBACK),
        ("127.0.0.2", AddressClass.LOOPBACK),
        ("127.255.255.254", AddressClass.LOOPBACK),
        ("10.0.0.1", AddressClass.PRIVATE),
        ("10.255.255.255", AddressClass.PRIVATE),
        ("172.16.0.1", AddressClass.PRIVATE),
        ("172.31.255.254", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("169.254.169.254", AddressClass.LINK_LOCAL),
        ("224.0.0.1", AddressClass.MULTICAST),
        ("239.255.255.250", AddressClass.MULTICAST),
        ("0.0.0.0", AddressClass.UNSPECIFIED),
        ("240.0.0.1", AddressClass.RESERVED),
        ("100.64.0.1", AddressClass.NOT_GLOBAL),
        ("::1", AddressClass.LOOPBACK),
        ("::", AddressClass.UNSPECIFIED),
        ("fe80::1", AddressClass.LINK_LOCAL),
        ("fe80::1%eth0", AddressClass.LINK_LOCAL),
        ("fc00::1", AddressClass.PRIVATE),
        ("fd12:3456:789a::1", AddressClass.PRIVATE),
        ("ff02::1", AddressClass.MULTICAST),
        ("::ffff:127.0.0.1", AddressClass.LOOPBACK),
        ("::ffff:10.1.2.3", AddressClass.PRIVATE),
        ("::ffff:169.254.1.1", AddressClass.LINK_LOCAL),
        ("[::1]", AddressClass.LOOPBACK),
    ],
)
def test_non_public_addresses_are_classified(address: str, kind: AddressClass) -> None:
    assert classify(ip(address)) == kind


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "172.32.0.1", "172.15.255.255", "2606:2800:220:1::1", "::ffff:93.184.216.34"],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert classify(ip(address)) is None


def test_parse_ip_rejects_host_names() -> None:
    assert parse_ip("example.org") is None
    assert parse_ip("127.0.0.1.nip.io") is None


def test_check_addresses_refuses_if_any_address_is_private() -> None:
    addresses = [ip("93.184.216.34"), ip("10.0.0.7")]
    assert check_addresses("mixed.example", addresses, AllowList()) == (
        "refused: 10.0.0.7 is a private/loopback address"
    )
    assert check_addresses("public.example", [ip("93.184.216.34")], AllowList()) is None


def test_allow_list_by_host_address_and_network() -> None:
    allow = AllowList.parse(["LocalHost.", "127.0.0.1", "10.1.0.0/16", " ", "[::1]"])
    assert allow.allows_host("localhost")
    assert not allow.allows_host("127.0.0.1")  # addresses are matched as addresses
    assert check_addresses("localhost", [ip("127.0.0.1")], allow) is None
    assert check_addresses("x", [ip("127.0.0.1")], allow) is None
    assert check_addresses("x", [ip("::1")], allow) is None
    assert check_addresses("x", [ip("10.1.200.3")], allow) is None
    assert check_addresses("x", [ip("10.2.0.1")], allow) == (
        "refused: 10.2.0.1 is a private/loopback address"
    )
    assert check_addresses("x", [ip("127.0.0.2")], allow) == (
        "refused: 127.0.0.2 is a private/loopback address"
    )

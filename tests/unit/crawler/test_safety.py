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


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("::127.0.0.2", AddressClass.LOOPBACK),  # IPv4-compatible (deprecated)
        ("::10.0.0.1", AddressClass.PRIVATE),
        ("::ffff:0:127.0.0.2", AddressClass.LOOPBACK),  # IPv4-translated
        ("::ffff:127.0.0.2", AddressClass.LOOPBACK),  # IPv4-mapped
        ("::ffff:7f00:2", AddressClass.LOOPBACK),  # the same, written in hex
        ("2002:7f00:2::1", AddressClass.LOOPBACK),  # 6to4 of 127.0.0.2
        ("2002:c0a8:101::1", AddressClass.PRIVATE),  # 6to4 of 192.168.1.1
        ("2002:a9fe:a9fe::", AddressClass.LINK_LOCAL),  # 6to4 of 169.254.169.254
        ("64:ff9b::127.0.0.2", AddressClass.LOOPBACK),  # NAT64 well-known prefix
        ("64:ff9b::a9fe:a9fe", AddressClass.LINK_LOCAL),
        ("64:ff9b::10.1.2.3", AddressClass.PRIVATE),
        ("2001:0:4136:e378:8000:63bf:80ff:fffd", AddressClass.LOOPBACK),  # Teredo client 127.0.0.2
        ("fec0::1", AddressClass.PRIVATE),  # site-local (deprecated)
        ("::ffff:0.0.0.0", AddressClass.UNSPECIFIED),
        ("::ffff:224.0.0.1", AddressClass.MULTICAST),
        ("255.255.255.255", AddressClass.RESERVED),
        ("198.18.0.1", AddressClass.PRIVATE),  # benchmarking
        ("192.0.2.1", AddressClass.PRIVATE),  # documentation
    ],
)
def test_ipv6_forms_carrying_private_ipv4_are_refused(address: str, kind: AddressClass) -> None:
    assert classify(ip(address)) == kind


@pytest.mark.parametrize("address", ["64:ff9b::8.8.8.8", "2002:808:808::1", "::ffff:8.8.4.4"])
def test_ipv6_forms_carrying_public_ipv4_are_public(address: str) -> None:
    assert classify(ip(address)) is None


def test_ipv4_compatible_form_of_a_public_address_is_still_refused() -> None:
    # ::8.8.8.8 is not routed by modern stacks; there is no reason to connect to it.
    assert classify(ip("::8.8.8.8")) == AddressClass.RESERVED


def test_embedded_ipv4() -> None:
    from crawler.safety import embedded_ipv4

    def v6(text: str) -> ipaddress.IPv6Address:
        return ipaddress.IPv6Address(text)

    assert str(embedded_ipv4(v6("::ffff:1.2.3.4"))) == "1.2.3.4"
    assert str(embedded_ipv4(v6("2002:102:304::"))) == "1.2.3.4"
    assert str(embedded_ipv4(v6("64:ff9b::102:304"))) == "1.2.3.4"
    assert embedded_ipv4(v6("::1")) is None
    assert embedded_ipv4(v6("::")) is None
    assert embedded_ipv4(v6("2606:4700::1111")) is None

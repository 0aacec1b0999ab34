"""Crawler stage guard: which resolved addresses the crawler may connect to.

The crawler follows links chosen by whoever wrote the page, so a page could point it at the
operator's own network (``http://10.0.0.5/admin``, cloud metadata at ``169.254.169.254``, a
database on ``127.0.0.1``). Every host is resolved and refused if any of its addresses is not
a public unicast address, unless an operator allowed that host or address explicitly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressClass(StrEnum):
    """Why an address is not public (the first matching reason, most specific first)."""

    UNSPECIFIED = "unspecified"
    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"
    MULTICAST = "multicast"
    RESERVED = "reserved"
    PRIVATE = "private"
    NOT_GLOBAL = "not-global"


def parse_ip(text: str) -> IPAddress | None:
    """Parse an IP address literal, with or without IPv6 brackets or a zone id; None if not one."""
    text = text.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def classify(address: IPAddress) -> AddressClass | None:
    """Say why ``address`` must not be fetched, or None if it is a public unicast address.

    IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) are judged by the IPv4 address they carry,
    because that is where a connection to them goes.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        (address.is_unspecified, AddressClass.UNSPECIFIED),
        (address.is_loopback, AddressClass.LOOPBACK),
        (address.is_link_local, AddressClass.LINK_LOCAL),
        (address.is_multicast, AddressClass.MULTICAST),
        # Before is_private: Python counts the reserved 240/4 among its "private" networks.
        (address.is_reserved, AddressClass.RESERVED),
        (address.is_private, AddressClass.PRIVATE),
        # Catches what the flags above miss: shared address space (100.64/10), 6to4 and
        # Teredo relays of private space, documentation ranges.
        (not address.is_global, AddressClass.NOT_GLOBAL),
    )
    for hit, kind in checks:
        if hit:
            return kind
    return None


def refusal_message(address: IPAddress) -> str:
    """Return the recorded error of a refused request."""
    return f"refused: {address} is a private/loopback address"


@dataclass(frozen=True)
class AllowList:
    """Hosts, addresses and networks that may be fetched although they are not public.

    Args:
        hosts: Lower-case host names allowed as such.
        networks: Addresses (as /32 or /128 networks) and networks allowed.

    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Build an allow list from settings entries: host names, IP addresses or CIDR networks."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            ip = parse_ip(entry)
            if ip is not None:
                networks.append(ipaddress.ip_network(ip))
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Whether the host name itself is allowed, whatever it resolves to."""
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """Whether the address lies in an allowed network."""
        return any(address.version == net.version and address in net for net in self.networks)


def check_addresses(host: str, addresses: Iterable[IPAddress], allow: AllowList) -> str | None:
    """Decide whether a host may be fetched, given every address it resolved to.

    A host is refused if *any* of its addresses is non-public: the connection may go to any of
    them, and an attacker choosing the DNS answer would list a public address first.

    Returns:
        None if allowed, else the refusal message naming the first offending address.

    """
    if allow.allows_host(host):
        return None
    for address in addresses:
        if classify(address) is not None and not allow.allows_address(address):
            return refusal_message(address)
    return None

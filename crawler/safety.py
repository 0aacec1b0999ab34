"""Crawler stage guard: which resolved addresses the crawler may connect to.

The crawler follows links chosen by whoever wrote the page, so a page could point it at the
operator's own network (``http://10.0.0.5/admin``, cloud metadata at ``169.254.169.254``, a
database on ``127.0.0.1``). Every host is resolved and refused if any of its addresses is not
a public unicast address, unless an operator allowed that host or address explicitly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

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


_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, for the forms that route to it.

    IPv4-mapped (``::ffff:a.b.c.d``), IPv4-translated (``::ffff:0:a.b.c.d``), IPv4-compatible
    (``::a.b.c.d``, deprecated), 6to4 (``2002:AABB:CCDD::/48``), NAT64 (``64:ff9b::a.b.c.d``)
    and Teredo (the obfuscated client address).
    """
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64_WELL_KNOWN or address in _IPV4_TRANSLATED:
        return low32
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1
        return low32
    return None


def _classify_plain(address: IPAddress) -> AddressClass | None:
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return AddressClass.PRIVATE  # fec0::/10: deprecated, but stacks still route it locally
    checks = (
        (address.is_unspecified, AddressClass.UNSPECIFIED),
        (address.is_loopback, AddressClass.LOOPBACK),
        (address.is_link_local, AddressClass.LINK_LOCAL),
        (address.is_multicast, AddressClass.MULTICAST),
        # Before is_private: Python counts the reserved 240/4 among its "private" networks.
        (address.is_reserved, AddressClass.RESERVED),
        (address.is_private, AddressClass.PRIVATE),
        # Catches what the flags above miss: shared address space (100.64/10), Teredo relays,
        # documentation ranges.
        (not address.is_global, AddressClass.NOT_GLOBAL),
    )
    for hit, kind in checks:
        if hit:
            return kind
    return None


def classify(address: IPAddress) -> AddressClass | None:
    """Say why ``address`` must not be fetched, or None if it is a public unicast address.

    IPv6 forms that carry an IPv4 address (mapped, translated, compatible, 6to4, NAT64, Teredo)
    are refused when the IPv4 address they carry is not public, because that is where a
    connection to them may end up. An IPv4-mapped or NAT64 address that carries a public IPv4
    address is public (an IPv6-only crawler behind DNS64 sees every IPv4 site that way).
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            inner_class = _classify_plain(inner)
            if inner_class is not None:
                return inner_class
            if address.ipv4_mapped is not None or address in _NAT64_WELL_KNOWN:
                return None
    return _classify_plain(address)


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


def addresses_of(infos: Sequence[tuple[Any, ...]]) -> tuple[IPAddress, ...]:
    """IP addresses of ``getaddrinfo`` answers, in order (duplicates across socket types dropped)."""
    found = (parse_ip(str(info[4][0])) for info in infos)
    return tuple(dict.fromkeys(ip for ip in found if ip is not None))


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


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
"""Proxy URL schemes a campaign may name."""


def proxy_refusal(url: str, allow: AllowList, addresses: Iterable[IPAddress] = ()) -> str | None:
    """Say why a campaign's proxy must not be used, or None: the one check every proxy scheme goes through.

    The proxy is where the crawler connects, so its address is held to the same policy as any
    fetched host: a proxy at ``127.0.0.2`` would otherwise reach the operator's own network
    whatever the targets are. An address literal is judged here; a host name is judged on
    ``addresses`` when the caller resolved it, and otherwise where it is resolved for the
    connection (the crawl's connect-time resolver, :mod:`crawler.middlewares`).

    Args:
        url: The proxy URL (``http``, ``https``, ``socks5`` or ``socks5h``).
        allow: Hosts and addresses allowed although not public.
        addresses: What the proxy's host name resolved to, if the caller resolved it.

    Returns:
        None if the proxy may be used, else the refusal message.

    """
    parts = urlsplit(url.strip())
    host = parts.hostname
    if parts.scheme not in PROXY_SCHEMES or not host:
        return f"refused: proxy must be a URL with scheme {', '.join(PROXY_SCHEMES)} and a host"
    literal = parse_ip(host)
    reason = check_addresses(host, [literal] if literal is not None else addresses, allow)
    if reason is None:
        return None
    return f"proxy {host}: {reason} (list it in allow_private_hosts to use it)"

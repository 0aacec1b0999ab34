"""Crawler stage downloader middleware: refuse requests to private, loopback and other hosts.

DNS choice: the middleware resolves each host itself with ``getaddrinfo`` (run in the event
loop's thread pool, cached per host for the crawl) before a request goes out, because Scrapy's
resolver does not expose its answer to middlewares. Redirects are covered for free: Scrapy's
``RedirectMiddleware`` issues a new ``Request`` that is scheduled and passes through every
downloader middleware again, this one included.

Remaining gap (DNS rebinding): Scrapy resolves the host again when it connects, so a hostile
DNS server could answer with a public address to our check and a private one to the connect.
The connected address is checked again on the response (``response.ip_address``) and such a
response is discarded, but that one request has then been sent. Closing the gap fully needs a
resolver that filters at connect time (a ``TWISTED_DNS_RESOLVER``); not done yet.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from crawler.safety import AllowList, IPAddress, check_addresses, parse_ip

ALLOW_SETTING = "ORBWEAVER_ALLOW_PRIVATE_HOSTS"
"""Scrapy setting holding :attr:`crawler.settings.CrawlerSettings.allow_private_hosts`."""

FETCHABLE_SCHEMES = frozenset({"http", "https"})


class RefusedRequest(IgnoreRequest):
    """A request the crawler will not send; ``reason`` is recorded as the fetch's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PrivateAddressMiddleware:
    """Downloader middleware that refuses requests to non-public addresses.

    Args:
        allow: Hosts and addresses that are fetched even though they are not public.

    """

    def __init__(self, allow: AllowList) -> None:
        self.allow = allow
        self._resolved: dict[str, tuple[IPAddress, ...]] = {}
        self.refused = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from the crawl's Scrapy settings."""
        return cls(AllowList.parse(crawler.settings.getlist(ALLOW_SETTING)))

    async def _resolve(self, host: str, port: int) -> tuple[IPAddress, ...]:
        literal = parse_ip(host)
        if literal is not None:
            return (literal,)
        cached = self._resolved.get(host)
        if cached is not None:
            return cached
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise RefusedRequest(f"dns: cannot resolve {host}: {exc}") from exc
        addresses = tuple(
            ip for ip in (parse_ip(str(info[4][0])) for info in infos) if ip is not None
        )
        if not addresses:
            raise RefusedRequest(f"dns: no address for {host}")
        self._resolved[host] = addresses
        return addresses

    async def process_request(self, request: Request) -> None:
        """Resolve the request's host and refuse it before it is sent if it is not public.

        Raises:
            RefusedRequest: If the scheme is not http(s), the host does not resolve, or an
                address it resolves to is not public and not allowed.

        """
        parts = urlsplit(request.url)
        if parts.scheme not in FETCHABLE_SCHEMES:
            raise RefusedRequest(f"refused: scheme {parts.scheme!r} is not fetched")
        host = parts.hostname
        if not host:
            raise RefusedRequest("refused: URL has no host")
        if self.allow.allows_host(host):
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise RefusedRequest(f"refused: bad port in {request.url}") from exc
        reason = check_addresses(host, await self._resolve(host, port), self.allow)
        if reason is not None:
            self.refused += 1
            raise RefusedRequest(reason)

    def process_response(self, request: Request, response: Response) -> Response:
        """Discard a response that came from a non-public address after all (DNS rebinding).

        Raises:
            RefusedRequest: If the connected address is not public and not allowed.

        """
        host = urlsplit(response.url).hostname or ""
        connected: Any = response.ip_address
        if connected is None or self.allow.allows_host(host):
            return response
        reason = check_addresses(host, [connected], self.allow)
        if reason is not None:
            self.refused += 1
            raise RefusedRequest(reason)
        return response

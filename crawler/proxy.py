"""Crawler stage proxy: send every request of a campaign through its HTTP proxy.

Scrapy's ``HttpProxyMiddleware`` does the proxying (CONNECT tunnels for https, credentials in
the proxy URL become ``Proxy-Authorization``); this middleware only puts the campaign's proxy in
every request's meta, including the robots.txt requests that Scrapy makes itself, so nothing
bypasses the proxy. SOCKS proxies go through :mod:`crawler.socks` instead (Scrapy has none).

Whatever its scheme, the proxy's own address is checked before every request
(:class:`ProxyGuard`, by :func:`crawler.safety.proxy_refusal`, the check a campaign's spec also
passes): the crawler connects to it, so a proxy at a private address is refused like any other
private host unless the crawl's allow list names it.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from typing import Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.middlewares import ALLOW_SETTING, GetAddrInfo, RefusedRequest, load_getaddrinfo
from crawler.safety import AllowList, IPAddress, addresses_of, parse_ip, proxy_refusal

PROXY_SETTING = "ORBWEAVER_PROXY"
"""Scrapy setting holding the campaign's proxy URL."""


def is_socks(proxy: str | None) -> bool:
    """Whether a proxy URL names a SOCKS proxy."""
    return bool(proxy) and urlsplit(str(proxy)).scheme.startswith("socks")


class ProxyGuard:
    """Refuses every request while the campaign's proxy is at an address the crawl may not connect to.

    A host name is resolved once per crawl for the check; the connection itself resolves through
    the crawl's checking resolver (:class:`crawler.middlewares.PublicAddressResolver`), so a name
    that later resolves to a private address still gets no connection.

    Args:
        proxy: The proxy URL.
        allow: The crawl's allow list.
        getaddrinfo: Name resolution function.

    """

    def __init__(self, proxy: str, allow: AllowList, getaddrinfo: GetAddrInfo = socket.getaddrinfo) -> None:
        self.proxy = proxy
        self.allow = allow
        self.getaddrinfo = getaddrinfo
        self._reason: str | None = None
        self._checked = False

    @classmethod
    def from_crawler(cls, crawler: Crawler, proxy: str) -> ProxyGuard:
        """A guard with the crawl's allow list and resolver."""
        settings = crawler.settings
        return cls(proxy, AllowList.parse(settings.getlist(ALLOW_SETTING)), load_getaddrinfo(settings))

    async def check(self) -> None:
        """Pass if the proxy may be used.

        Raises:
            RefusedRequest: With the reason, if it may not.

        """
        if not self._checked:
            self._reason = await self._refusal()
            self._checked = True
        if self._reason is not None:
            raise RefusedRequest(self._reason)

    async def _refusal(self) -> str | None:
        parts = urlsplit(self.proxy)
        host = parts.hostname or ""
        addresses: tuple[IPAddress, ...] = ()
        if host and parse_ip(host) is None and not self.allow.allows_host(host):
            lookup = functools.partial(self.getaddrinfo, host, 0, 0, socket.SOCK_STREAM)
            try:
                addresses = addresses_of(await asyncio.get_running_loop().run_in_executor(None, lookup))
            except (OSError, UnicodeError) as exc:
                return f"proxy {host}: dns: cannot resolve: {exc}"
        return proxy_refusal(self.proxy, self.allow, addresses)


class CampaignProxyMiddleware:
    """Downloader middleware (before ``HttpProxyMiddleware``) that sets ``meta['proxy']``.

    Args:
        proxy: The http:// or https:// proxy URL.
        guard: Checks the proxy's address before each request.

    """

    def __init__(self, proxy: str, guard: ProxyGuard) -> None:
        self.proxy = proxy
        self.guard = guard

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from ``ORBWEAVER_PROXY``.

        Raises:
            NotConfigured: Without an HTTP proxy (none, or a SOCKS one).

        """
        proxy = crawler.settings.get(PROXY_SETTING)
        if not proxy or is_socks(proxy):
            raise NotConfigured  # bare: Scrapy logs a reason given here as a warning
        return cls(str(proxy), ProxyGuard.from_crawler(crawler, str(proxy)))

    async def process_request(self, request: Request) -> None:
        """Route the request through the campaign's proxy.

        Raises:
            RefusedRequest: If the proxy is at an address the crawl may not connect to.

        """
        await self.guard.check()
        request.meta["proxy"] = self.proxy

"""Crawler stage proxy: send every request of a campaign through its HTTP proxy.

Scrapy's ``HttpProxyMiddleware`` does the proxying (CONNECT tunnels for https, credentials in
the proxy URL become ``Proxy-Authorization``); this middleware only puts the campaign's proxy in
every request's meta, including the robots.txt requests that Scrapy makes itself, so nothing
bypasses the proxy. SOCKS proxies go through :mod:`crawler.socks` instead (Scrapy has none).
"""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

PROXY_SETTING = "ORBWEAVER_PROXY"
"""Scrapy setting holding the campaign's proxy URL."""


def is_socks(proxy: str | None) -> bool:
    """Whether a proxy URL names a SOCKS proxy."""
    return bool(proxy) and urlsplit(str(proxy)).scheme.startswith("socks")


class CampaignProxyMiddleware:
    """Downloader middleware (before ``HttpProxyMiddleware``) that sets ``meta['proxy']``.

    Args:
        proxy: The http:// or https:// proxy URL.

    """

    def __init__(self, proxy: str) -> None:
        self.proxy = proxy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from ``ORBWEAVER_PROXY``.

        Raises:
            NotConfigured: Without an HTTP proxy (none, or a SOCKS one).

        """
        proxy = crawler.settings.get(PROXY_SETTING)
        if not proxy or is_socks(proxy):
            raise NotConfigured  # bare: Scrapy logs a reason given here as a warning
        return cls(str(proxy))

    def process_request(self, request: Request) -> None:
        """Route the request through the campaign's proxy."""
        request.meta["proxy"] = self.proxy

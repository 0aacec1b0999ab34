"""Crawler stage spider: walk one site from its seed pages and request every image it shows.

Pages are followed only on the seeds' own hosts, up to a link depth and a page budget. Media is
requested wherever it is hosted (images commonly live on a CDN), once per page that shows it,
because each (page, media) pair is a separate sighting. Every outcome becomes an item: the
spider never drops a fetch silently, and it knows nothing of the bus or the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self
from urllib.parse import urldefrag, urlsplit

import scrapy
from lxml.etree import LxmlError  # type: ignore[import-untyped]  # lxml ships no stubs
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from crawler.items import MediaItem, PageItem
from crawler.middlewares import RefusedRequest

SELECTED_HEADERS = (
    "content-type",
    "content-length",
    "server",
    "via",
    "x-cache",
    "x-served-by",
    "cf-ray",
    "cf-cache-status",
    "x-amz-cf-id",
    "etag",
    "last-modified",
    "age",
    "cache-control",
    "location",
)
"""Response headers kept with a fetch: they help attribute the host, CDN and cache for notices."""

# Let 4xx/5xx responses reach the callbacks (HttpErrorMiddleware drops them otherwise) while
# leaving 3xx to RedirectMiddleware, which handle_httpstatus_all would switch off.
RECORDED_STATUSES = list(range(400, 600))


class Meta(StrEnum):
    """Request meta keys the spider sets (namespaced so they never clash with Scrapy's)."""

    KIND = "orbweaver_kind"
    DEPTH = "orbweaver_depth"
    PAGE_URL = "orbweaver_page_url"


class FetchKind(StrEnum):
    """What a request fetches."""

    PAGE = "page"
    MEDIA = "media"


def utcnow() -> datetime:
    """Timezone-aware now, for fetch times."""
    return datetime.now(UTC)


def clean_url(link: str, base: Response | None = None) -> str | None:
    """Absolute http(s) URL of ``link`` (relative to ``base``) without its fragment.

    Returns:
        The URL, or None if it is not fetchable (``data:``, ``javascript:``, a bad port...).
        Inline ``data:`` images are skipped for now: they carry no host to notify.

    """
    link = link.strip()
    if not link or link.startswith(("data:", "javascript:", "mailto:", "tel:", "#")):
        return None
    try:
        absolute = base.urljoin(link) if base is not None else link
        url, _fragment = urldefrag(absolute)
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def srcset_urls(srcset: str) -> Iterator[str]:
    """Yield the candidate URLs of a ``srcset`` attribute (``"a.png 1x, b.png 2x"``)."""
    for candidate in srcset.split(","):
        words = candidate.split()
        if words:
            yield words[0]


def select_headers(response: Response) -> dict[str, str]:
    """Return the response headers worth keeping, lower-cased, decoded as Latin-1 (HTTP's)."""
    kept: dict[str, str] = {}
    for name in SELECTED_HEADERS:
        value = response.headers.get(name)
        if value is not None:
            kept[name] = value.decode("latin-1")
    return kept


def describe_failure(failure: Failure, maxsize: int | None = None) -> str:
    """Return a short, stable error text for a failed request (recorded; never contains bytes)."""
    exc = failure.value
    if isinstance(exc, RefusedRequest):
        return exc.reason
    if isinstance(exc, DownloadCancelledError):
        # Scrapy cancels a download for one reason: it outgrew DOWNLOAD_MAXSIZE.
        return f"too large: over the {maxsize} byte limit" if maxsize else "too large"
    if isinstance(exc, DownloadTimeoutError):
        return "timeout"
    if isinstance(exc, CannotResolveHostError):
        return f"dns: {exc}"
    if isinstance(exc, DownloadConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ResponseDataLossError):
        return "connection lost before the whole body arrived"
    if isinstance(exc, IgnoreRequest):
        return f"not fetched: {exc}"
    return f"{type(exc).__name__}: {exc}"


class SiteSpider(scrapy.Spider):
    """Crawl the seeds' sites and request every image on every page.

    Args:
        campaign_id: The campaign the fetches belong to.
        seeds: Start URLs (a list, or a comma-separated string from ``scrapy crawl -a``).
        max_depth: Link hops followed from a seed.
        max_pages: Most pages requested in all.

    """

    name = "site"

    def __init__(
        self,
        campaign_id: str = "",
        seeds: Iterable[str] | str = (),
        max_depth: int | str = 3,
        max_pages: int | str = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not campaign_id:
            raise ValueError("SiteSpider needs a campaign_id")
        self.campaign_id = campaign_id
        raw = seeds.split(",") if isinstance(seeds, str) else list(seeds)
        self.seeds = [u for u in (clean_url(s) for s in raw) if u is not None]
        self.max_depth = int(max_depth)
        self.max_pages = int(max_pages)
        self.hosts = frozenset(urlsplit(u).hostname or "" for u in self.seeds)
        self.pages_requested = 0
        self._seen_pages: set[str] = set()
        self._maxsize: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        """Build the spider and note the download size limit for error texts."""
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE") or None
        return spider

    def in_scope(self, url: str) -> bool:
        """Whether a page URL is on one of the seeds' hosts."""
        return (urlsplit(url).hostname or "") in self.hosts

    def _page_request(self, url: str, depth: int) -> scrapy.Request | None:
        if url in self._seen_pages or self.pages_requested >= self.max_pages:
            return None
        self._seen_pages.add(url)
        self.pages_requested += 1
        return scrapy.Request(
            url,
            callback=self.parse,
            errback=self.page_failed,
            meta={
                Meta.KIND.value: FetchKind.PAGE.value,
                Meta.DEPTH.value: depth,
                "handle_httpstatus_list": RECORDED_STATUSES,
            },
        )

    async def start(self) -> AsyncIterator[Any]:
        """Request each seed page at depth 0."""
        for url in self.seeds:
            request = self._page_request(url, 0)
            if request is not None:
                yield request

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """Record a page, request its media, and follow its in-scope links."""
        depth = int(response.meta.get(Meta.DEPTH.value, 0))
        page = PageItem(
            campaign_id=self.campaign_id,
            url=response.url,
            depth=depth,
            fetched_at=utcnow(),
            http_status=response.status,
        )
        if response.status >= 400:
            page.error = f"http {response.status}"
            yield page
            return
        if not self.in_scope(response.url):
            page.error = f"redirected off-site to {response.url}"
            yield page
            return
        if not isinstance(response, TextResponse):
            content_type = (response.headers.get("content-type") or b"").decode("latin-1")
            page.error = f"not an HTML page ({content_type or 'no content-type'})"
            yield page
            return
        try:
            media, links = self._extract(response)
        except (ValueError, LxmlError) as exc:
            # lxml recovers from almost any markup; what it cannot parse is recorded, and the
            # crawl goes on with the other pages.
            page.error = f"unparseable HTML: {type(exc).__name__}: {exc}"
            yield page
            return
        page.media_found = len(media)
        yield page
        for media_url in media:
            yield scrapy.Request(
                media_url,
                callback=self.parse_media,
                errback=self.media_failed,
                # One fetch per (page, media): each is its own sighting.
                dont_filter=True,
                # Media before further pages, so a page's images follow it closely.
                priority=1,
                meta={
                    Meta.KIND.value: FetchKind.MEDIA.value,
                    Meta.PAGE_URL.value: response.url,
                    "handle_httpstatus_list": RECORDED_STATUSES,
                },
            )
        if depth >= self.max_depth:
            return
        for link in links:
            request = self._page_request(link, depth + 1)
            if request is not None:
                yield request

    def _extract(self, response: TextResponse) -> tuple[list[str], list[str]]:
        raw_media: list[str] = []
        raw_media += response.css("img::attr(src)").getall()
        raw_media += response.css("img::attr(data-src)").getall()
        for srcset in response.css("img::attr(srcset), picture source::attr(srcset)").getall():
            raw_media += list(srcset_urls(srcset))
        media = list(dict.fromkeys(u for u in (clean_url(m, response) for m in raw_media) if u))
        raw_links = response.css("a::attr(href), area::attr(href)").getall()
        cleaned = dict.fromkeys(clean_url(h, response) for h in raw_links)
        links = [u for u in cleaned if u and self.in_scope(u)]
        return media, links

    def parse_media(self, response: Response) -> Iterator[MediaItem]:
        """Turn a media response (2xx, 4xx or 5xx) into one item."""
        ok = 200 <= response.status < 300
        yield MediaItem(
            campaign_id=self.campaign_id,
            page_url=response.meta[Meta.PAGE_URL.value],
            media_url=self._origin_url(response),
            final_url=response.url,
            fetched_at=utcnow(),
            http_status=response.status,
            resolved_ip=None if response.ip_address is None else str(response.ip_address),
            headers=select_headers(response),
            body=response.body if ok else None,
            error=None if ok else f"http {response.status}",
        )

    @staticmethod
    def _origin_url(response: Response) -> str:
        # After redirects, the URL the page pointed at is the first of the chain.
        redirects = response.meta.get("redirect_urls") or []
        if redirects:
            return str(redirects[0])
        return response.request.url if response.request is not None else response.url

    def media_failed(self, failure: Failure) -> Iterator[MediaItem]:
        """Record a media fetch that produced no response."""
        request = failure.request  # type: ignore[attr-defined]
        redirects = request.meta.get("redirect_urls") or []
        yield MediaItem(
            campaign_id=self.campaign_id,
            page_url=request.meta[Meta.PAGE_URL.value],
            media_url=str(redirects[0]) if redirects else request.url,
            final_url=request.url,
            fetched_at=utcnow(),
            error=describe_failure(failure, self._maxsize),
        )

    def page_failed(self, failure: Failure) -> Iterator[PageItem]:
        """Record a page fetch that produced no response."""
        request = failure.request  # type: ignore[attr-defined]
        yield PageItem(
            campaign_id=self.campaign_id,
            url=request.url,
            depth=int(request.meta.get(Meta.DEPTH.value, 0)),
            fetched_at=utcnow(),
            error=describe_failure(failure, self._maxsize),
        )

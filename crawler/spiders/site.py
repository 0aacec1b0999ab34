"""Crawler stage spider: walk one campaign's scope from its seed pages and request every image it shows.

Pages (and frames) are followed only within the campaign's scope (:mod:`crawler.scope`) and
link depth. Media are requested wherever they are hosted (images commonly live on a CDN), once
per page that shows them, because each (page, media) pair is a separate sighting; but a media URL
is downloaded once per run: later requests for it are answered from :attr:`SiteSpider.media_memo`
(:mod:`crawler.fetch_once`) and become repeat items without bytes. Linked
stylesheets are fetched for the media and ``@import`` they name. What a page names is found by
:func:`crawler.extract.extract_page`. A link whose type its URL does not tell is fetched as a
page and turned into a media fetch if its Content-Type and magic bytes say it is media.

Dedupe, the page, media and per-host caps, and resuming after a restart are the frontier's
business (:mod:`crawler.frontier`, the ``SCHEDULER``); every outcome here becomes an item, so
the spider never drops a fetch silently, and it knows nothing of the bus or the store.
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

from core.messages import sha256_hex
from crawler.extract import extract_page, extract_stylesheet, sniff_media
from crawler.fetch_once import REPEAT_FLAG, REPEAT_META, FetchOutcome, MediaMemo
from crawler.items import AssetItem, MediaItem, PageItem
from crawler.middlewares import RefusedRequest
from crawler.scope import Scope, ScopeRule

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
# leaving 3xx to RedirectMiddleware, which handle_httpstatus_all would switch off. Set on the
# spider, not in each request's meta, so the frontier does not store 200 numbers per request.
RECORDED_STATUSES = list(range(400, 600))

MAX_FRAME_NESTING = 3
"""Frames are part of the page that shows them (no depth hop), up to this nesting."""

MAX_IMPORT_NESTING = 4
"""Stylesheets ``@import``-ed from stylesheets are fetched up to this nesting."""


class Meta(StrEnum):
    """Request meta keys the spider sets (namespaced so they never clash with Scrapy's)."""

    KIND = "orbweaver_kind"
    DEPTH = "orbweaver_depth"
    PAGE_URL = "orbweaver_page_url"
    """For media and stylesheets: the page that shows them. For pages: the page that linked them."""
    NESTING = "orbweaver_nesting"
    """Frame nesting of a page, or ``@import`` nesting of a stylesheet."""
    RENDER = "orbweaver_render"
    """Set on page requests of campaigns rendered in a browser (``crawler.render.RENDER_META``)."""
    RENDERED_MEDIA = "orbweaver_rendered_media"
    """Set by the renderer on a page: media URLs the browser loaded (``crawler.render.RENDERED_MEDIA_META``)."""


class FetchKind(StrEnum):
    """What a request fetches; values are stored in the frontier."""

    PAGE = "page"
    MEDIA = "media"
    STYLESHEET = "stylesheet"


def utcnow() -> datetime:
    """Timezone-aware now, for fetch times."""
    return datetime.now(UTC)


def clean_url(link: str, base: Response | None = None) -> str | None:
    """Absolute http(s) URL of ``link`` (relative to ``base``) without its fragment.

    Returns:
        The URL, or None if it is not fetchable (``data:``, ``javascript:``, a bad port...).

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


def select_headers(response: Response) -> dict[str, str]:
    """Return the response headers worth keeping, lower-cased, decoded as Latin-1 (HTTP's)."""
    kept: dict[str, str] = {}
    for name in SELECTED_HEADERS:
        value = response.headers.get(name)
        if value is not None:
            kept[name] = value.decode("latin-1")
    return kept


def content_type_header(response: Response) -> str | None:
    """The raw Content-Type header of a response, if any."""
    raw = response.headers.get("content-type")
    return None if raw is None else raw.decode("latin-1")


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


def _flag(value: bool | str) -> bool:
    return value if isinstance(value, bool) else value.strip().lower() in ("1", "true", "yes", "on")


class SiteSpider(scrapy.Spider):
    """Crawl a campaign's scope and request every image on every page.

    Args:
        campaign_id: The campaign the fetches belong to.
        seeds: Start URLs (a list, or a comma-separated string from ``scrapy crawl -a``).
        max_depth: Link hops followed from a seed.
        scope: The campaign's :class:`crawler.scope.Scope` (or its JSON); default: the seeds' hosts.
        render: Ask for page requests to be rendered in a browser.

    """

    name = "site"
    handle_httpstatus_list = RECORDED_STATUSES

    def __init__(
        self,
        campaign_id: str = "",
        seeds: Iterable[str] | str = (),
        max_depth: int | str = 3,
        scope: Scope | str | None = None,
        render: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not campaign_id:
            raise ValueError("SiteSpider needs a campaign_id")
        self.campaign_id = campaign_id
        raw = seeds.split(",") if isinstance(seeds, str) else list(seeds)
        self.seeds = [u for u in (clean_url(s) for s in raw) if u is not None]
        self.max_depth = int(max_depth)
        if isinstance(scope, str):
            scope = Scope.model_validate_json(scope)
        self.scope_rule: ScopeRule = (scope or Scope()).rule(self.seeds)
        self.render = _flag(render)
        self._maxsize: int | None = None
        self.media_memo = MediaMemo()
        """This run's media fetch outcomes, so each media URL is downloaded once (crawler.fetch_once)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        """Build the spider and note the download size limit for error texts."""
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE") or None
        return spider

    def in_scope(self, url: str) -> bool:
        """Whether a page URL is within the campaign's scope."""
        return self.scope_rule.allows(url)

    # -- requests

    def _page_request(self, url: str, depth: int, referrer: str | None = None, nesting: int = 0) -> scrapy.Request:
        meta: dict[str, Any] = {
            Meta.KIND.value: FetchKind.PAGE.value,
            Meta.DEPTH.value: depth,
        }
        if referrer is not None:
            meta[Meta.PAGE_URL.value] = referrer
        if nesting:
            meta[Meta.NESTING.value] = nesting
        if self.render:
            meta[Meta.RENDER.value] = True
        return scrapy.Request(url, callback=self.parse, errback=self.page_failed, meta=meta)

    def _media_request(self, url: str, page_url: str) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse_media,
            errback=self.media_failed,
            # Media before further pages, so a page's images follow it closely and the queue
            # stays short.
            priority=1,
            meta={
                Meta.KIND.value: FetchKind.MEDIA.value,
                Meta.PAGE_URL.value: page_url,
                },
        )

    def _stylesheet_request(self, url: str, page_url: str, nesting: int) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse_stylesheet,
            errback=self.stylesheet_failed,
            priority=1,
            meta={
                Meta.KIND.value: FetchKind.STYLESHEET.value,
                Meta.PAGE_URL.value: page_url,
                Meta.NESTING.value: nesting,
                },
        )

    async def start(self) -> AsyncIterator[Any]:
        """Request each seed page at depth 0 (on a resumed crawl the frontier drops them as seen)."""
        for url in self.seeds:
            yield self._page_request(url, 0)

    # -- callbacks

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """Record a page, request its media and stylesheets, and follow its in-scope links and frames."""
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
            page.error = f"redirected out of scope to {response.url}"
            yield page
            return
        content_type = content_type_header(response)
        if sniff_media(response.body[:512], content_type) is not None:
            # A link that did not look like media (no extension) turned out to be media.
            yield self._media_item(response, page_url=response.meta.get(Meta.PAGE_URL.value) or response.url)
            return
        if not isinstance(response, TextResponse):
            page.error = f"not an HTML page ({content_type or 'no content-type'})"
            yield page
            return
        try:
            links = extract_page(response.url, response.body, content_type, response.encoding)
        except (ValueError, LxmlError) as exc:
            # The extractor recovers from almost any markup; what it cannot parse is recorded,
            # and the crawl goes on with the other pages.
            page.error = f"unparseable HTML: {type(exc).__name__}: {exc}"
            yield page
            return
        rendered = response.meta.get(Meta.RENDERED_MEDIA.value) or []
        media_urls = list(dict.fromkeys([m.url for m in links.media] + [u for u in rendered if isinstance(u, str)]))
        page.media_found = len(media_urls)
        yield page
        for media_url in media_urls:
            yield self._media_request(media_url, response.url)
        for sheet in links.stylesheets:
            yield self._stylesheet_request(sheet, response.url, 0)
        nesting = int(response.meta.get(Meta.NESTING.value, 0))
        if nesting < MAX_FRAME_NESTING:
            for frame in links.frames:
                if self.in_scope(frame):
                    yield self._page_request(frame, depth, response.url, nesting + 1)
        if depth >= self.max_depth:
            return
        for link in links.pages:
            if self.in_scope(link):
                yield self._page_request(link, depth + 1, response.url)

    def parse_stylesheet(self, response: Response) -> Iterator[Any]:
        """Request the media a stylesheet names, and the stylesheets it imports."""
        page_url = str(response.meta[Meta.PAGE_URL.value])
        asset = AssetItem(
            campaign_id=self.campaign_id,
            url=response.url,
            page_url=page_url,
            fetched_at=utcnow(),
            http_status=response.status,
        )
        if response.status >= 400:
            asset.error = f"http {response.status}"
            yield asset
            return
        links = extract_stylesheet(response.url, response.body, content_type_header(response))
        asset.media_found = len(links.media)
        yield asset
        for media in links.media:
            yield self._media_request(media.url, page_url)
        nesting = int(response.meta.get(Meta.NESTING.value, 0))
        if nesting < MAX_IMPORT_NESTING:
            for imported in links.imports:
                yield self._stylesheet_request(imported, page_url, nesting + 1)

    def _media_item(self, response: Response, page_url: str) -> MediaItem:
        ok = 200 <= response.status < 300
        return MediaItem(
            campaign_id=self.campaign_id,
            page_url=page_url,
            media_url=self._origin_url(response),
            final_url=response.url,
            fetched_at=utcnow(),
            http_status=response.status,
            resolved_ip=None if response.ip_address is None else str(response.ip_address),
            headers=select_headers(response),
            body=response.body if ok else None,
            error=None if ok else f"http {response.status}",
        )

    def parse_media(self, response: Response) -> Iterator[MediaItem]:
        """Turn a media response (2xx, 4xx or 5xx), or a repeat of one, into one item."""
        page_url = str(response.meta[Meta.PAGE_URL.value])
        if REPEAT_FLAG in response.flags:
            yield self._repeat_item(response, page_url)
            return
        item = self._media_item(response, page_url=page_url)
        if item.body is not None:
            # Hashed here so a repeat sighting can carry it; the pipeline reuses it.
            item.sha256 = sha256_hex(item.body)
        self.media_memo.record(
            item.media_url,
            FetchOutcome(
                final_url=item.final_url,
                http_status=response.status,
                fetched_at=item.fetched_at,
                resolved_ip=item.resolved_ip,
                headers=item.headers,
                size=None if item.body is None else len(item.body),
                sha256=item.sha256,
            ),
        )
        yield item

    def _repeat_item(self, response: Response, page_url: str) -> MediaItem:
        first: FetchOutcome = response.meta[REPEAT_META]
        ok = 200 <= first.http_status < 300
        return MediaItem(
            campaign_id=self.campaign_id,
            page_url=page_url,
            media_url=response.url,
            final_url=first.final_url,
            fetched_at=first.fetched_at,
            http_status=first.http_status,
            resolved_ip=first.resolved_ip,
            headers=first.headers,
            error=None if ok else f"http {first.http_status}",
            sha256=first.sha256,
            size=first.size,
            repeat=True,
        )

    @staticmethod
    def _origin_url(response: Response) -> str:
        # After redirects, the URL the page pointed at is the first of the chain.
        redirects = response.meta.get("redirect_urls") or []
        if redirects:
            return str(redirects[0])
        return response.request.url if response.request is not None else response.url

    # -- errbacks: each yields exactly one item (the frontier finishes the request on it)

    def media_failed(self, failure: Failure) -> Iterator[MediaItem]:
        """Record a media fetch that produced no response."""
        request = failure.request  # type: ignore[attr-defined]
        redirects = request.meta.get("redirect_urls") or []
        media_url = str(redirects[0]) if redirects else request.url
        self.media_memo.failed(media_url)
        yield MediaItem(
            campaign_id=self.campaign_id,
            page_url=request.meta[Meta.PAGE_URL.value],
            media_url=media_url,
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

    def stylesheet_failed(self, failure: Failure) -> Iterator[AssetItem]:
        """Record a stylesheet fetch that produced no response."""
        request = failure.request  # type: ignore[attr-defined]
        yield AssetItem(
            campaign_id=self.campaign_id,
            url=request.url,
            page_url=str(request.meta.get(Meta.PAGE_URL.value, "")),
            fetched_at=utcnow(),
            error=describe_failure(failure, self._maxsize),
        )

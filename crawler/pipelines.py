"""Crawler stage item pipeline: the one place where crawl results leave Scrapy.

Each 2xx media response becomes a :class:`core.messages.FetchedMedia` on the bus (bytes inline
up to the inline limit, else staged in the blob store). Failed media fetches are recorded as
:class:`core.store.models.Sighting` rows with their error, and pages as
:class:`core.store.models.Page` rows, upserted on (campaign, URL) so a re-crawl never
duplicates them. Running totals go to Scrapy's stats, which :mod:`crawler.run` reports.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Self

import structlog
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from core.blobs import BlobStore, open_blobs, staging_key
from core.bus import Bus, open_bus
from core.errors import ConfigError
from core.messages import FetchedMedia, MediaRef, new_id, sha256_hex
from core.store import Store
from core.store.models import Page, Sighting
from crawler.items import MediaItem, PageItem

log = structlog.get_logger(__name__)


PAGE_BATCH = 500
"""Most page rows buffered before they are written."""

PAGE_FLUSH_S = 1.0
"""Longest a page row waits in the buffer (while items keep arriving)."""


class Setting(StrEnum):
    """Scrapy settings that carry the crawl's infrastructure to the pipeline."""

    STORE_URL = "ORBWEAVER_STORE_URL"
    BUS_URL = "ORBWEAVER_BUS_URL"
    BLOBS_URL = "ORBWEAVER_BLOBS_URL"
    S3_ENDPOINT_URL = "ORBWEAVER_S3_ENDPOINT_URL"
    INLINE_MEDIA_LIMIT = "ORBWEAVER_INLINE_MEDIA_LIMIT"


class Stat(StrEnum):
    """Scrapy stats keys the pipeline keeps (running totals for progress reports)."""

    PAGES = "orbweaver/pages"
    MEDIA = "orbweaver/media"
    ERRORS = "orbweaver/errors"
    STAGED = "orbweaver/media_staged"


def content_type_of(headers: dict[str, str]) -> str | None:
    """Return the media type of a Content-Type header, lower-cased and without parameters."""
    raw = headers.get("content-type")
    if not raw:
        return None
    return raw.split(";", 1)[0].strip().lower() or None


class BusPipeline:
    """Hand fetched media to the bus and record pages and failed fetches in the store.

    The store must already be migrated (:func:`crawler.run.crawl_in_this_process` does it).

    Args:
        store_url: SQLAlchemy URL of the shared store.
        bus_url: Bus URL (``embedded:…`` or ``kafka://…``).
        blobs_url: Blob store URL, for bodies over the inline limit.
        inline_media_limit: Largest body carried inside a message.
        stats: Scrapy's stats collector, for running totals.
        s3_endpoint_url: Endpoint of a non-AWS S3 server, if the blob store is one.

    """

    def __init__(
        self,
        *,
        store_url: str,
        bus_url: str,
        blobs_url: str,
        inline_media_limit: int,
        stats: StatsCollector,
        s3_endpoint_url: str | None = None,
    ) -> None:
        self.store_url = store_url
        self.bus_url = bus_url
        self.blobs_url = blobs_url
        self.inline_media_limit = inline_media_limit
        self.s3_endpoint_url = s3_endpoint_url
        self.stats = stats
        self.store: Store | None = None
        self._pages: dict[tuple[str, str], dict[str, Any]] = {}
        self._pages_flushed = time.monotonic()
        self.bus: Bus | None = None
        self.blobs: BlobStore | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from the ``ORBWEAVER_*`` Scrapy settings.

        Raises:
            ConfigError: If a URL setting is missing.

        """
        settings = crawler.settings
        required = (Setting.STORE_URL, Setting.BUS_URL, Setting.BLOBS_URL)
        urls = {s: settings.get(s.value) for s in required}
        missing = [s.value for s, v in urls.items() if not v]
        if missing:
            raise ConfigError(f"BusPipeline needs the Scrapy settings {', '.join(missing)}")
        assert crawler.stats is not None  # Scrapy creates it with the crawler
        return cls(
            store_url=str(urls[Setting.STORE_URL]),
            bus_url=str(urls[Setting.BUS_URL]),
            blobs_url=str(urls[Setting.BLOBS_URL]),
            inline_media_limit=settings.getint(Setting.INLINE_MEDIA_LIMIT.value, 4 * 1024 * 1024),
            stats=crawler.stats,
            s3_endpoint_url=settings.get(Setting.S3_ENDPOINT_URL.value) or None,
        )

    def open_spider(self) -> None:
        """Open the store, the bus and the blob store for this crawl."""
        self.store = Store(self.store_url)
        self.bus = open_bus(self.bus_url, client_id="orbweaver-crawler")
        self.blobs = open_blobs(self.blobs_url, s3_endpoint_url=self.s3_endpoint_url)
        for stat in Stat:
            self.stats.set_value(stat.value, 0)

    def close_spider(self) -> None:
        """Write buffered pages, flush the bus and release connections."""
        self.flush_pages()
        if self.bus is not None:
            self.bus.flush()
            self.bus.close()
        if self.store is not None:
            self.store.dispose()

    def process_item(self, item: Any) -> Any:
        """Publish or record one item; other item types pass through untouched."""
        if isinstance(item, MediaItem):
            if item.error is None and item.body is not None:
                self._publish(item)
            else:
                self._record_failed(item)
        elif isinstance(item, PageItem):
            self._record_page(item)
        return item

    def _publish(self, item: MediaItem) -> None:
        assert self.bus is not None and self.blobs is not None and item.body is not None
        assert item.http_status is not None
        body = item.body
        message_id = new_id()
        inline = len(body) <= self.inline_media_limit
        blob_key = None
        if not inline:
            blob_key = staging_key(message_id)
            self.blobs.put(blob_key, body)
            self.stats.inc_value(Stat.STAGED.value)
        message = FetchedMedia(
            message_id=message_id,
            ref=MediaRef(
                campaign_id=item.campaign_id,
                page_url=item.page_url,
                media_url=item.media_url,
                final_url=item.final_url,
                resolved_ip=item.resolved_ip,
                fetched_at=item.fetched_at,
            ),
            http_status=item.http_status,
            headers=item.headers,
            content_type=content_type_of(item.headers),
            size=len(body),
            sha256=sha256_hex(body),
            body=body if inline else None,
            blob_key=blob_key,
        )
        self.bus.publish(message)
        item.sha256 = message.sha256
        self.stats.inc_value(Stat.MEDIA.value)

    def _record_failed(self, item: MediaItem) -> None:
        assert self.store is not None
        with self.store.session() as s:
            s.add(
                Sighting(
                    message_id=new_id(),
                    campaign_id=item.campaign_id,
                    sha256=None,
                    page_url=item.page_url,
                    media_url=item.media_url,
                    final_url=item.final_url,
                    http_status=item.http_status,
                    content_type=content_type_of(item.headers),
                    resolved_ip=item.resolved_ip,
                    size=None,
                    fetched_at=item.fetched_at,
                    error=item.error or "no body",
                )
            )
        self.stats.inc_value(Stat.ERRORS.value)
        log.info("crawler.media_failed", media_url=item.media_url, error=item.error)

    def _record_page(self, item: PageItem) -> None:
        # Pages are written in batches: one ORM round trip per page cost more CPU than fetching
        # and parsing it. A batch waits at most PAGE_FLUSH_S (and is flushed at close).
        self._pages[(item.campaign_id, item.url)] = {
            "campaign_id": item.campaign_id,
            "url": item.url,
            "http_status": item.http_status,
            "depth": item.depth,
            "media_found": item.media_found,
            "error": item.error,
            "fetched_at": item.fetched_at,
        }
        self.stats.inc_value(Stat.PAGES.value)
        if item.error is not None:
            self.stats.inc_value(Stat.ERRORS.value)
        if len(self._pages) >= PAGE_BATCH or time.monotonic() - self._pages_flushed >= PAGE_FLUSH_S:
            self.flush_pages()

    def flush_pages(self) -> None:
        """Upsert the buffered page rows on (campaign, URL), so a re-crawl never duplicates them."""
        self._pages_flushed = time.monotonic()
        if not self._pages or self.store is None:
            return
        rows = list(self._pages.values())
        self._pages.clear()
        with self.store.session() as s:
            if s.get_bind().dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                stmt: Any = pg_insert(Page)
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                stmt = sqlite_insert(Page)
            columns = ("http_status", "depth", "media_found", "error", "fetched_at")
            stmt = stmt.on_conflict_do_update(
                index_elements=["campaign_id", "url"], set_={c: stmt.excluded[c] for c in columns}
            )
            # One statement with the rows as parameters: compiled once and cached, whatever the batch size.
            s.execute(stmt, rows)

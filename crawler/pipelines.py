"""Crawler stage item pipeline: the one place where crawl results leave Scrapy.

Each 2xx media response becomes a :class:`core.messages.FetchedMedia` on the bus (bytes inline
up to the inline limit, else staged in the blob store); a repeat sighting of media this run
already fetched becomes a bodiless :class:`core.messages.MediaSighted`. Failed media fetches are
recorded as :class:`core.store.tables.crawler.Sighting` rows with their error, and pages as
:class:`core.store.tables.crawler.Page` rows, upserted on (campaign, URL) so a re-crawl never
duplicates them. Running totals go to Scrapy's stats, which :mod:`crawler.run` reports.

Ordering with the frontier: before the frontier commits requests as finished it sends
:data:`crawler.frontier.frontier_committing`, and the pipeline writes its buffered page rows and
flushes the bus then, so no request is durably finished while what it produced could still be lost.

Back-pressure: a publish the bus refuses for now (:class:`core.errors.TransientError`: a full
send buffer or topic) is retried with backoff, and with ``max_media_backlog`` set the pipeline
waits while the hashing group's lag is over it. Either way ``process_item`` returns an awaitable
that sleeps on the reactor, so Scrapy pauses the crawl without blocking it. A publish that still
fails after ``PUBLISH_ATTEMPTS`` is recorded as a per-item error, never dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, Self

import structlog
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from core.blobs import BlobStore, open_blobs, staging_key
from core.bus import Bus, open_bus
from core.bus.throttle import BacklogThrottle
from core.errors import ConfigError, TransientError
from core.messages import FetchedMedia, FetchOrigin, MediaRef, MediaSighted, Topic, derive_id, new_id, sha256_hex
from core.stages import StageName
from core.store import Store
from core.store.tables.crawler import Page
from crawler import sightings
from crawler.frontier import frontier_committing
from crawler.items import MediaItem, PageItem

log = structlog.get_logger(__name__)


PAGE_BATCH = 500
"""Most page rows buffered before they are written."""

PAGE_FLUSH_S = 1.0
"""Longest a page row waits in the buffer (while items keep arriving)."""

PUBLISH_ATTEMPTS = 8
"""Tries of one publish the bus refuses transiently before the item is recorded as an error."""

PUBLISH_BACKOFF_S = 0.25
"""First pause between tries of a publish; doubles each time, up to ``PUBLISH_BACKOFF_MAX_S``."""

PUBLISH_BACKOFF_MAX_S = 8.0

HASHING_GROUP = str(StageName.HASHING)
"""Consumer group of the hashing stage (its name, see ``core.stages``), whose lag the throttle watches."""

Sleep = Callable[[float], Awaitable[None]]


async def reactor_sleep(seconds: float) -> None:
    """Wait on the Twisted reactor without blocking it (Scrapy keeps downloading meanwhile)."""
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))


class Setting(StrEnum):
    """Scrapy settings that carry the crawl's infrastructure to the pipeline."""

    STORE_URL = "ORBWEAVER_STORE_URL"
    BUS_URL = "ORBWEAVER_BUS_URL"
    BLOBS_URL = "ORBWEAVER_BLOBS_URL"
    S3_ENDPOINT_URL = "ORBWEAVER_S3_ENDPOINT_URL"
    INLINE_MEDIA_LIMIT = "ORBWEAVER_INLINE_MEDIA_LIMIT"
    MAX_MEDIA_BACKLOG = "ORBWEAVER_MAX_MEDIA_BACKLOG"
    RUN_KEY = "ORBWEAVER_RUN_KEY"
    ORIGIN = "ORBWEAVER_ORIGIN"
    """Names one run of a campaign (all its sessions); set, media messages get ids from their natural key."""


class Stat(StrEnum):
    """Scrapy stats keys the pipeline keeps (running totals for progress reports)."""

    PAGES = "orbweaver/pages"
    MEDIA = "orbweaver/media"
    ERRORS = "orbweaver/errors"
    STAGED = "orbweaver/media_staged"
    REPEATS = "orbweaver/media_repeats"
    """Media sightings recorded without a fetch (the URL was fetched earlier in the run); also in MEDIA."""
    PUBLISH_RETRIES = "orbweaver/publish_retries"
    BACKLOG_WAIT_MS = "orbweaver/backlog_wait_ms"


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
        max_media_backlog: Wait while the hashing group's lag on ``media.fetched`` is over this
            (0: never wait on lag; the bus's own buffer limits still apply).
        bus: An open bus to use instead of opening ``bus_url`` (tests); closed with the pipeline.
        sleep: How to wait between tries (default: a reactor timer; tests pass their own).
        run_key: Names the campaign run this crawl belongs to (resumed sessions share it): a media fetch's
            message id then derives from (run, page, media URL), so a fetch repeated after a kill is the
            same sighting, not a second one. None: a fresh id per fetch.
        origin: Why this crawl fetches (a campaign, or a report): carried on every media reference it sends.

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
        max_media_backlog: int = 0,
        bus: Bus | None = None,
        sleep: Sleep = reactor_sleep,
        run_key: str | None = None,
        origin: FetchOrigin = FetchOrigin.CAMPAIGN,
    ) -> None:
        if max_media_backlog < 0:
            raise ConfigError(f"max_media_backlog must not be negative, got {max_media_backlog}")
        self.store_url = store_url
        self.bus_url = bus_url
        self.blobs_url = blobs_url
        self.inline_media_limit = inline_media_limit
        self.s3_endpoint_url = s3_endpoint_url
        self.stats = stats
        self.store: Store | None = None
        self._pages: dict[tuple[str, str], dict[str, Any]] = {}
        self._pages_flushed = time.monotonic()
        self.bus: Bus | None = bus
        self.blobs: BlobStore | None = None
        self.max_media_backlog = max_media_backlog
        self.run_key = run_key
        self.origin = origin
        self.throttle: BacklogThrottle | None = None
        self._sleep = sleep
        self._closed = False

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
        pipeline = cls(
            store_url=str(urls[Setting.STORE_URL]),
            bus_url=str(urls[Setting.BUS_URL]),
            blobs_url=str(urls[Setting.BLOBS_URL]),
            inline_media_limit=settings.getint(Setting.INLINE_MEDIA_LIMIT.value, 4 * 1024 * 1024),
            stats=crawler.stats,
            s3_endpoint_url=settings.get(Setting.S3_ENDPOINT_URL.value) or None,
            max_media_backlog=settings.getint(Setting.MAX_MEDIA_BACKLOG.value, 0),
            run_key=settings.get(Setting.RUN_KEY.value) or None,
            origin=FetchOrigin(settings.get(Setting.ORIGIN.value) or FetchOrigin.CAMPAIGN),
        )
        crawler.signals.connect(pipeline.hand_on, signal=frontier_committing)
        return pipeline

    def open_spider(self) -> None:
        """Open the store, the bus and the blob store for this crawl."""
        self.store = Store(self.store_url)
        if self.bus is None:
            self.bus = open_bus(self.bus_url, client_id="orbweaver-crawler")
        if self.max_media_backlog:
            self.throttle = BacklogThrottle(self.bus, Topic.MEDIA_FETCHED, HASHING_GROUP, self.max_media_backlog)
        self.blobs = open_blobs(self.blobs_url, s3_endpoint_url=self.s3_endpoint_url)
        for stat in Stat:
            self.stats.set_value(stat.value, 0)

    def close_spider(self) -> None:
        """Write buffered pages, flush the bus and release connections."""
        self.hand_on()
        self._closed = True
        if self.bus is not None:
            self.bus.close()
        if self.store is not None:
            self.store.dispose()

    def hand_on(self) -> None:
        """Write the buffered page rows and flush the bus: everything processed so far is durable after this.

        Raises:
            TransientError: If the store or the bus cannot take it now (the frontier then does not commit).

        """
        if self._closed:
            return  # closing handed everything on already
        self.flush_pages()
        if self.bus is not None:
            self.bus.flush()

    def process_item(self, item: Any) -> Any:
        """Publish or record one item; other item types pass through untouched.

        Returns:
            The item, or an awaitable of it when the publish has to wait (back-pressure).

        """
        if isinstance(item, MediaItem):
            if item.error is None and (item.body is not None or item.repeat):
                return self._publish(item)
            self._record_failed(item)
        elif isinstance(item, PageItem):
            self._record_page(item)
        return item

    def _publish(self, item: MediaItem) -> Any:
        message = self._sighting(item) if item.repeat else self._fetched(item)
        if self.throttle is None or self.throttle.try_acquire():
            try:
                self._send(message, item)
            except TransientError as exc:
                return self._publish_later(message, item, exc)
            return item
        return self._publish_later(message, item, None)

    async def _publish_later(
        self, message: FetchedMedia | MediaSighted, item: MediaItem, error: TransientError | None
    ) -> MediaItem:
        # Scrapy awaits this before it takes the next item of the response, and stops pulling
        # new requests while its scraper backlog is full: the crawl pauses, the reactor runs on.
        if error is None:
            await self._wait_for_backlog()
        backoff = PUBLISH_BACKOFF_S
        attempt = 1 if error is not None else 0
        while True:
            if error is not None:
                if attempt >= PUBLISH_ATTEMPTS:
                    self._give_up(message, item, error)
                    return item
                self.stats.inc_value(Stat.PUBLISH_RETRIES.value)
                log.info("crawler.publish_retry", media_url=item.media_url, attempt=attempt, error=str(error))
                await self._sleep(backoff)
                backoff = min(backoff * 2, PUBLISH_BACKOFF_MAX_S)
            try:
                self._send(message, item)
                return item
            except TransientError as exc:
                error = exc
                attempt += 1

    async def _wait_for_backlog(self) -> None:
        assert self.throttle is not None
        started = time.monotonic()
        while not self.throttle.try_acquire():
            await self._sleep(self.throttle.check_every_s)
        waited = time.monotonic() - started
        self.throttle.waited_s += waited
        self.stats.inc_value(Stat.BACKLOG_WAIT_MS.value, round(waited * 1000))

    def _fetched(self, item: MediaItem) -> FetchedMedia:
        assert self.blobs is not None and item.body is not None and item.http_status is not None
        body = item.body
        message_id = self._natural_id(item) or new_id()
        inline = len(body) <= self.inline_media_limit
        blob_key = None
        if not inline:
            blob_key = staging_key(message_id)
            self.blobs.put(blob_key, body)
            self.stats.inc_value(Stat.STAGED.value)
        return FetchedMedia(
            message_id=message_id,
            ref=self._ref(item),
            http_status=item.http_status,
            headers=item.headers,
            content_type=content_type_of(item.headers),
            size=len(body),
            sha256=item.sha256 or sha256_hex(body),
            body=body if inline else None,
            blob_key=blob_key,
        )

    def _sighting(self, item: MediaItem) -> MediaSighted:
        assert item.sha256 is not None and item.size is not None and item.http_status is not None
        return MediaSighted(
            # The same repeat delivered twice (a resumed crawl) is one sighting row.
            message_id=self._natural_id(item)
            or derive_id("sighting", item.campaign_id, item.page_url, item.media_url, item.sha256,
                         item.fetched_at.isoformat()),
            ref=self._ref(item),
            http_status=item.http_status,
            content_type=content_type_of(item.headers),
            size=item.size,
            sha256=item.sha256,
        )

    def _natural_id(self, item: MediaItem) -> str | None:
        # One sighting per (run, page, media URL), whatever the outcome: a media request fetched again after a
        # kill (it was published, but not yet committed as finished) is the same sighting, not a second one.
        if self.run_key is None:
            return None
        return derive_id("sighting", item.campaign_id, self.run_key, item.page_url, item.media_url)

    def _ref(self, item: MediaItem) -> MediaRef:
        return MediaRef(
            campaign_id=item.campaign_id,
            page_url=item.page_url,
            media_url=item.media_url,
            final_url=item.final_url,
            resolved_ip=item.resolved_ip,
            fetched_at=item.fetched_at,
            origin=self.origin,
        )

    def _send(self, message: FetchedMedia | MediaSighted, item: MediaItem) -> None:
        assert self.bus is not None
        self.bus.publish(message)
        item.sha256 = message.sha256
        self.stats.inc_value(Stat.MEDIA.value)
        if item.repeat:
            self.stats.inc_value(Stat.REPEATS.value)

    def _give_up(self, message: FetchedMedia | MediaSighted, item: MediaItem, error: TransientError) -> None:
        # The bytes cannot go on; the sighting is kept as an error so the loss is visible and
        # a later crawl or recheck fetches the media again.
        if isinstance(message, FetchedMedia) and message.blob_key is not None and self.blobs is not None:
            self.blobs.delete(message.blob_key)
        log.warning("crawler.publish_failed", media_url=item.media_url, attempts=PUBLISH_ATTEMPTS, error=str(error))
        item.error = f"bus refused the item after {PUBLISH_ATTEMPTS} attempts: {error}"
        item.body = None
        self._record_failed(item)

    def _record_failed(self, item: MediaItem) -> None:
        assert self.store is not None
        # A repeat of a failed fetch gets a stable id, so recording it twice is one row.
        message_id = self._natural_id(item)
        if message_id is None:
            message_id = (
                derive_id("failed-sighting", item.campaign_id, item.page_url, item.media_url,
                          item.fetched_at.isoformat())
                if item.repeat
                else new_id()
            )
        with self.store.session() as s:
            sightings.record(
                s,
                {
                    "message_id": message_id,
                    "campaign_id": item.campaign_id,
                    "sha256": None,
                    "page_url": item.page_url,
                    "media_url": item.media_url,
                    "final_url": item.final_url,
                    "http_status": item.http_status,
                    "content_type": content_type_of(item.headers),
                    "resolved_ip": item.resolved_ip,
                    "size": None,
                    "fetched_at": item.fetched_at,
                    "error": item.error or "no body",
                },
            )
        self.stats.inc_value(Stat.ERRORS.value)
        if item.repeat:
            self.stats.inc_value(Stat.REPEATS.value)
        log.info("crawler.media_failed", media_url=item.media_url, error=item.error)

    def _record_page(self, item: PageItem) -> None:
        # Pages are written in batches: one ORM round trip per page cost more CPU than fetching
        # and parsing it. A batch waits at most PAGE_FLUSH_S, and is written before every frontier commit and at close.
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
        # Dropped only once written: a failed write keeps them for the next flush (and the frontier uncommitted).
        self._pages.clear()

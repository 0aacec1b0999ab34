"""Crawler stage downloader middleware: fetch each media URL once per crawl run, however many pages show it.

Each (page, media) pair is still its own request in the frontier, so every sighting is queued on
disk, deduped and resumed like any other request; only the download is shared. The first request
for a URL fetches it; the spider records its outcome in a :class:`MediaMemo`; later requests for
the URL are answered from the memo with an empty stand-in response (flag :data:`REPEAT_FLAG`, the
first fetch's outcome in meta :data:`REPEAT_META`), and the spider turns that into a repeat
sighting that carries no bytes. A request that finds the URL in flight waits for that fetch.

The memo is bounded (least recently used outcomes are forgotten) and lives in memory: after a
restart, or once forgotten, a URL is fetched once more, which costs a download but loses nothing.
Only responses are remembered; a fetch that failed without one (timeout, refused connection) is
tried again by the next page that shows the media, as before.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

import structlog
from scrapy.crawler import Crawler
from scrapy.http import Request, Response

log = structlog.get_logger(__name__)

REPEAT_FLAG = "orbweaver-repeat"
"""Flag of a stand-in response: the media was fetched earlier in this run and is not fetched again."""

REPEAT_META = "orbweaver_repeat"
"""Request meta of a request answered from the memo: the first fetch's :class:`FetchOutcome`."""

KIND_META = "orbweaver_kind"
MEDIA_KIND = "media"
# Mirrors crawler.spiders.site.Meta.KIND / FetchKind.MEDIA; the spider imports this module, so
# importing those names back would be circular (a unit test checks they agree).

SAVED_STAT = "orbweaver/media_fetches_saved"
"""Scrapy stats key: media requests answered from the memo instead of the network."""

DEFAULT_REMEMBERED = 100_000
"""Outcomes kept by default: a few hundred bytes each, so tens of MB at most."""


@dataclass(frozen=True)
class FetchOutcome:
    """What the first fetch of a media URL in this run got: everything a sighting records but the bytes."""

    final_url: str
    http_status: int
    fetched_at: datetime
    resolved_ip: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    size: int | None = None
    """Body size of a 2xx response (None otherwise)."""
    sha256: str | None = None
    """SHA-256 of a 2xx body (None otherwise)."""


class MediaMemo:
    """Outcomes of this run's media fetches by the URL a page named, and the fetches in flight.

    Args:
        max_remembered: Most outcomes kept; the least recently used are forgotten first.

    """

    def __init__(self, max_remembered: int = DEFAULT_REMEMBERED) -> None:
        if max_remembered < 1:
            raise ValueError(f"max_remembered must be at least 1, got {max_remembered}")
        self.max_remembered = max_remembered
        self._outcomes: OrderedDict[str, FetchOutcome] = OrderedDict()
        self._in_flight: dict[str, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self._outcomes)

    def outcome(self, url: str) -> FetchOutcome | None:
        """The remembered outcome of ``url``, if any (marks it recently used)."""
        found = self._outcomes.get(url)
        if found is not None:
            self._outcomes.move_to_end(url)
        return found

    def in_flight(self, url: str) -> asyncio.Event | None:
        """The event set when the fetch of ``url`` now under way ends, if one is."""
        return self._in_flight.get(url)

    def start(self, url: str) -> None:
        """Note that ``url`` is being fetched; later requests for it wait for the outcome."""
        self._in_flight.setdefault(url, asyncio.Event())

    def record(self, url: str, outcome: FetchOutcome) -> None:
        """Remember the outcome of fetching ``url`` and release the requests waiting for it."""
        self._outcomes[url] = outcome
        self._outcomes.move_to_end(url)
        while len(self._outcomes) > self.max_remembered:
            self._outcomes.popitem(last=False)
        self._release(url)

    def failed(self, url: str) -> None:
        """The fetch of ``url`` ended without a response: waiting requests fetch it themselves."""
        self._release(url)

    def _release(self, url: str) -> None:
        event = self._in_flight.pop(url, None)
        if event is not None:
            event.set()


class FetchOnceMiddleware:
    """Downloader middleware answering repeat media requests from the spider's :class:`MediaMemo`.

    Sits after the address, robots.txt and proxy checks have refused what they refuse (the same
    URL gets the same answer) and inside RetryMiddleware and RedirectMiddleware, so the outcome
    remembered is the final one.

    Args:
        crawler: The crawler; its spider's ``media_memo`` attribute is the memo (a spider without
            one is not touched).
        wait_s: Longest a request waits for a fetch of its URL in flight before fetching itself.
        max_waiting: Most requests waiting at once; more fetch themselves, so waiters never fill
            the downloader while the fetch they wait for sits in the queue (a redirect's next hop).

    """

    def __init__(self, crawler: Crawler, *, wait_s: float, max_waiting: int) -> None:
        self.crawler = crawler
        self.wait_s = wait_s
        self.max_waiting = max_waiting
        self.waiting = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from the crawler's download timeout and concurrency."""
        settings = crawler.settings
        return cls(
            crawler,
            wait_s=2 * settings.getfloat("DOWNLOAD_TIMEOUT", 180.0),
            max_waiting=max(1, settings.getint("CONCURRENT_REQUESTS", 16) // 2),
        )

    def _memo(self) -> MediaMemo | None:
        memo = getattr(self.crawler.spider, "media_memo", None)
        return memo if isinstance(memo, MediaMemo) else None

    async def process_request(self, request: Request) -> Response | None:
        """Answer a media request whose URL this run already fetched; let the first one through."""
        if request.meta.get(KIND_META) != MEDIA_KIND or request.meta.get("redirect_urls"):
            # A redirect's next hop belongs to the fetch that is already under way.
            return None
        memo = self._memo()
        if memo is None:
            return None
        url = request.url
        while True:
            outcome = memo.outcome(url)
            if outcome is not None:
                request.meta[REPEAT_META] = outcome
                if self.crawler.stats is not None:
                    self.crawler.stats.inc_value(SAVED_STAT)
                return Response(url=url, status=200, request=request, flags=[REPEAT_FLAG])
            event = memo.in_flight(url)
            if event is None or self.waiting >= self.max_waiting:
                memo.start(url)
                return None
            self.waiting += 1
            try:
                await asyncio.wait_for(event.wait(), self.wait_s)
            except TimeoutError:
                log.info("crawler.media_wait_timeout", media_url=url, waited_s=self.wait_s)
                return None
            finally:
                self.waiting -= 1

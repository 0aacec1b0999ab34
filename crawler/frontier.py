"""Crawler stage frontier: the on-disk queue and seen-set of one campaign, and the Scrapy scheduler over it.

Why a SQLite file per campaign rather than Scrapy's JOBDIR: JOBDIR's disk queues hold pickled
requests (the project keeps no pickle), its dupefilter keeps every fingerprint in a Python set
(about 100 bytes per URL in memory: a million URLs cost about 100 MB and grow without bound),
and it forgets requests that were in flight when the process died. Here the seen-set and the
queue are two tables of one SQLite file, so memory stays flat whatever the frontier's size (SQLite
pages through its own bounded cache), requests are stored as JSON, and a request leaves the queue
only when it is *finished*: its response was parsed, every link found on it was queued, and its
items went through the pipeline. Requests handed out but not finished stay in the file and are
handed out again after a restart. It is a separate file, not a table of the shared store, because
it is the crawl's hot path (thousands of writes a second) and belongs to one crawling process.

Durability: "finished" marks are committed in groups every ``commit_interval_s`` (0 commits
each one, which costs throughput: see ``benchmarks/crawl.py``). A graceful pause, stop or
shutdown commits everything; a killed process refetches at most its in-flight requests plus
those finished within the last interval. Just before each commit the scheduler sends
:data:`frontier_committing`, and the item pipeline writes the page rows it buffers and flushes the
bus: a request is durably finished only once what it produced is durably handed on, so a kill
never leaves a finished page without its row (it may leave a row whose page is fetched again,
which the row's upsert absorbs).

Limits live here too, because only the frontier knows whether a request is new: the page and
media caps and the pages-per-host cap count new requests, and survive a restart with the queue.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import structlog
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from scrapy.utils.request import request_from_dict
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from core.errors import TransientError
from crawler.scope import host_of
from crawler.spiders.site import FetchKind, Meta

log = structlog.get_logger(__name__)

FRONTIER_ID = "orbweaver_frontier_id"
"""Request meta key: the frontier row a request came from (carried through redirects and retries)."""

request_finished = object()
"""Scrapy signal (``request=``): every output of the request's callback has been processed."""

hold_requests = object()
"""Scrapy signal: hand out no further request (the crawl is pausing or stopping)."""

frontier_committing = object()
"""Scrapy signal: finished marks are about to be committed; hand on durably what their requests produced.

A receiver that raises stops the commit (the marks stay uncommitted, and are committed with the next one).
"""

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS seen (key BLOB PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY, priority INTEGER NOT NULL, "
    "state INTEGER NOT NULL DEFAULT 0, request TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS queue_order ON queue (state, priority DESC, id)",
    "CREATE TABLE IF NOT EXISTS hosts (host TEXT PRIMARY KEY, pages INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
)

_QUEUED, _HANDED_OUT = 0, 1


class Added(StrEnum):
    """What :meth:`Frontier.add` did with a request."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"
    OVER_PAGE_LIMIT = "over_page_limit"
    OVER_HOST_LIMIT = "over_host_limit"
    OVER_MEDIA_LIMIT = "over_media_limit"


@dataclass(frozen=True)
class Budget:
    """The caps of one run; None means no cap."""

    max_pages: int | None = None
    max_media: int | None = None
    max_pages_per_host: int | None = None


@dataclass(frozen=True)
class Entry:
    """One queued request as stored: its row id and its JSON form."""

    id: int
    request: str


def request_key(kind: str, url: str, page_url: str | None = None) -> bytes:
    """The seen-set key of a request: its kind, the page it was found on (media only), its URL.

    Media are keyed with their page because each (page, media) pair is a separate sighting;
    pages and stylesheets are fetched once per run.
    """
    parts = [kind, (page_url or "") if kind == FetchKind.MEDIA else "", canonicalize_url(url)]
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogateescape"), digest_size=16).digest()


class Frontier:
    """A campaign's queue and seen-set in one SQLite file.

    Args:
        path: The file (created if missing; reopened to resume).
        budget: Caps on new pages and media.
        commit_interval_s: Most seconds between commits of finished marks (0: every one).
        cache_kib: SQLite page cache, the frontier's only memory that grows with use (bounded).
        before_commit: Called just before each commit; if it raises, nothing is committed.

    """

    def __init__(
        self,
        path: Path,
        budget: Budget | None = None,
        *,
        commit_interval_s: float = 0.25,
        cache_kib: int = 8192,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.budget = budget or Budget()
        self.commit_interval_s = commit_interval_s
        self.before_commit = before_commit
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        self._db.execute("PRAGMA temp_store=FILE")
        for statement in SCHEMA:
            self._db.execute(statement)
        # Requests handed out by a process that died were never finished: queue them again.
        self._db.execute("UPDATE queue SET state = ? WHERE state = ?", (_QUEUED, _HANDED_OUT))
        self.pending = int(self._db.execute("SELECT count(*) FROM queue").fetchone()[0])
        """Requests queued and not yet handed out."""
        self.handed_out = 0
        self._counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        self._in_tx = False
        self._last_commit = time.monotonic()

    # -- counters that survive a restart

    @property
    def pages_added(self) -> int:
        """New page requests ever queued in this run (the page cap counts these)."""
        return int(self._counters.get("pages", 0))

    @property
    def media_added(self) -> int:
        """New media requests ever queued in this run (the media cap counts these)."""
        return int(self._counters.get("media", 0))

    @property
    def pages_finished(self) -> int:
        """Page requests finished in this run, over all its sessions (committed with their finished marks)."""
        return int(self._counters.get("pages_finished", 0))

    def _bump(self, name: str) -> None:
        value = int(self._counters.get(name, 0)) + 1
        self._counters[name] = value
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    # -- transactions

    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True

    def commit(self) -> None:
        """Make everything so far durable (after ``before_commit``, which may refuse by raising)."""
        if self._in_tx:
            if self.before_commit is not None:
                self.before_commit()
            self._db.execute("COMMIT")
            self._in_tx = False
        self._last_commit = time.monotonic()

    def _maybe_commit(self) -> None:
        if time.monotonic() - self._last_commit >= self.commit_interval_s:
            try:
                self.commit()
            except TransientError as exc:
                # The output could not be handed on yet: keep the marks in the open transaction; the next commit
                # tries again, and a kill meanwhile only means fetching those requests again.
                self._last_commit = time.monotonic()
                log.warning("crawler.frontier_commit_deferred", error=str(exc))

    def try_commit(self) -> None:
        """Commit now; if the output cannot be handed on yet, keep the marks for the next commit."""
        self._last_commit = float("-inf")
        self._maybe_commit()

    # -- the queue

    def seen(self, key: bytes) -> bool:
        """Whether a request with this key was ever queued."""
        return self._db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None

    def add(
        self,
        request: str,
        *,
        key: bytes | None,
        kind: str = FetchKind.PAGE,
        host: str = "",
        priority: int = 0,
    ) -> Added:
        """Queue a new request unless it was seen before or a cap forbids it.

        Args:
            request: The request's JSON form.
            key: Its seen-set key (:func:`request_key`); None queues it without a check.
            kind: A :class:`crawler.spiders.site.FetchKind` value (pages and media are capped).
            host: The host of a page (for the pages-per-host cap).
            priority: Higher is handed out first; equal priorities go first in, first out.

        """
        self._begin()
        if key is not None and self.seen(key):
            return Added.DUPLICATE
        budget = self.budget
        if kind == FetchKind.PAGE:
            if budget.max_pages is not None and self.pages_added >= budget.max_pages:
                return Added.OVER_PAGE_LIMIT
            if budget.max_pages_per_host is not None:
                row = self._db.execute("SELECT pages FROM hosts WHERE host = ?", (host,)).fetchone()
                if row is not None and row[0] >= budget.max_pages_per_host:
                    return Added.OVER_HOST_LIMIT
                self._db.execute(
                    "INSERT INTO hosts (host, pages) VALUES (?, 1) ON CONFLICT (host) DO UPDATE SET pages = pages + 1",
                    (host,),
                )
            self._bump("pages")
        elif kind == FetchKind.MEDIA:
            if budget.max_media is not None and self.media_added >= budget.max_media:
                return Added.OVER_MEDIA_LIMIT
            self._bump("media")
        if key is not None:
            self._db.execute("INSERT INTO seen (key) VALUES (?)", (key,))
        self._db.execute("INSERT INTO queue (priority, request) VALUES (?, ?)", (priority, request))
        self.pending += 1
        self._maybe_commit()
        return Added.QUEUED

    def requeue(self, entry_id: int, request: str, *, key: bytes | None, priority: int = 0) -> bool:
        """Put a handed-out entry back with a follow-up request (a redirect or a retry).

        The follow-up replaces the entry, so it is neither lost nor counted twice. A redirect to
        a URL seen before finishes the entry instead.

        Returns:
            True if the follow-up was queued, False if it was a duplicate.

        """
        self._begin()
        if key is not None:
            if self.seen(key):
                self.finish(entry_id)
                return False
            self._db.execute("INSERT INTO seen (key) VALUES (?)", (key,))
        cursor = self._db.execute(
            "UPDATE queue SET state = ?, priority = ?, request = ? WHERE id = ? AND state = ?",
            (_QUEUED, priority, request, entry_id, _HANDED_OUT),
        )
        if cursor.rowcount:
            self.handed_out -= 1
            self.pending += 1
        else:
            self._db.execute("INSERT INTO queue (priority, request) VALUES (?, ?)", (priority, request))
            self.pending += 1
        self._maybe_commit()
        return True

    def pop(self, limit: int = 1) -> list[Entry]:
        """Hand out up to ``limit`` queued requests, highest priority first, then oldest first."""
        if self.pending <= 0:
            return []
        self._begin()
        rows = self._db.execute(
            "SELECT id, request FROM queue WHERE state = ? ORDER BY priority DESC, id LIMIT ?", (_QUEUED, limit)
        ).fetchall()
        if rows:
            self._db.executemany("UPDATE queue SET state = ? WHERE id = ?", [(_HANDED_OUT, r[0]) for r in rows])
        self.pending -= len(rows)
        self.handed_out += len(rows)
        return [Entry(int(r[0]), str(r[1])) for r in rows]

    def finish(self, entry_id: int, *, page: bool = False) -> None:
        """Forget a finished request (its key stays in the seen-set); ``page``: count it as a finished page."""
        self._begin()
        cursor = self._db.execute("DELETE FROM queue WHERE id = ? AND state = ?", (entry_id, _HANDED_OUT))
        if cursor.rowcount:
            self.handed_out -= 1
            if page:
                # Counted in the transaction that finishes it: after a kill the count matches the pages that
                # stay finished, and a page fetched again is counted once.
                self._bump("pages_finished")
        self._maybe_commit()

    def clear(self) -> None:
        """Drop every queued request (a stopped campaign); the seen-set stays."""
        self._begin()
        self._db.execute("DELETE FROM queue")
        self.pending = 0
        self.handed_out = 0
        self.commit()

    def close(self) -> None:
        """Commit, fold the write-ahead log back into the file, and close it.

        If the output could not be handed on, the marks since the last commit are rolled back instead: those
        requests are fetched again when the campaign resumes.
        """
        try:
            self.commit()
        except TransientError as exc:
            log.warning("crawler.frontier_rolled_back", error=str(exc))
            self._db.execute("ROLLBACK")
            self._in_tx = False
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()


# -- requests as JSON (no pickle) -----------------------------------------------------------------


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def _method_name(spider: Spider, func: Any) -> str | None:
    if func is None:
        return None
    name = getattr(func, "__name__", None)
    if getattr(func, "__self__", None) is spider and name and getattr(spider, name, None) == func:
        return str(name)
    raise ValueError(f"{func!r} is not a method of the spider")


def _request_dict(request: Request, spider: Spider) -> dict[str, Any]:
    if type(request) is not Request:
        # Subclasses (FormRequest...) carry their own fields; Scrapy's own dict knows them.
        return request.to_dict(spider=spider)
    # Request.to_dict finds callback names with inspect.getmembers, a millisecond per request.
    return {
        "url": request.url,
        "callback": _method_name(spider, request.callback),
        "errback": _method_name(spider, request.errback),
        "headers": dict(request.headers),
        "method": request.method,
        "body": request.body,
        "cookies": request.cookies,
        "meta": request.meta,
        "encoding": request.encoding,
        "priority": request.priority,
        "dont_filter": request.dont_filter,
        "flags": request.flags,
        "cb_kwargs": request.cb_kwargs,
    }


def encode_request(request: Request, spider: Spider) -> str:
    """A request as JSON: callbacks by spider method name, bytes as Latin-1 or base64.

    Meta values that are not plain data (objects some middleware attached) are left out; the
    spider's own meta is always plain data.

    Raises:
        ValueError: If a callback is not a method of the spider (it could not be restored).

    """
    d = _request_dict(request, spider)
    d["headers"] = {
        k.decode("latin-1"): [v.decode("latin-1") for v in values] for k, values in d["headers"].items()
    }
    body = d.pop("body", b"")
    if body:
        d["body64"] = base64.b64encode(body).decode("ascii")
    d["meta"] = {k: v for k, v in (d.get("meta") or {}).items() if _jsonable(v)}
    d["cookies"] = d.get("cookies") if _jsonable(d.get("cookies")) else {}
    d["cb_kwargs"] = d.get("cb_kwargs") if _jsonable(d.get("cb_kwargs")) else {}
    # Defaults are left out (a million queued requests should not each spell them out).
    slim = {k: v for k, v in d.items() if k == "url" or _DEFAULTS.get(k, _NO_DEFAULT) != v}
    return json.dumps(slim, separators=(",", ":"), ensure_ascii=False)


_NO_DEFAULT = object()
_DEFAULTS: dict[str, Any] = {
    "callback": None, "errback": None, "headers": {}, "method": "GET", "cookies": {}, "meta": {},
    "encoding": "utf-8", "priority": 0, "dont_filter": False, "flags": [], "cb_kwargs": {},
}  # fmt: skip


def decode_request(data: str, spider: Spider) -> Request:
    """Rebuild a request stored by :func:`encode_request`."""
    d = json.loads(data)
    d["headers"] = {
        k.encode("latin-1"): [v.encode("latin-1") for v in values] for k, values in d.get("headers", {}).items()
    }
    d["body"] = base64.b64decode(d.pop("body64")) if "body64" in d else b""
    return request_from_dict(d, spider=spider)


# -- Scrapy: the scheduler, and the spider middleware that says when a request is finished --------


class Setting(StrEnum):
    """Scrapy settings the frontier reads."""

    PATH = "ORBWEAVER_FRONTIER_PATH"
    COMMIT_INTERVAL_S = "ORBWEAVER_FRONTIER_COMMIT_INTERVAL_S"
    MAX_PAGES = "ORBWEAVER_MAX_PAGES"
    MAX_MEDIA = "ORBWEAVER_MAX_MEDIA"
    MAX_PAGES_PER_HOST = "ORBWEAVER_MAX_PAGES_PER_HOST"


class Stat(StrEnum):
    """Scrapy stats keys the frontier keeps."""

    PENDING = "orbweaver/frontier/pending"
    QUEUED = "orbweaver/frontier/queued"
    DUPLICATES = "orbweaver/frontier/duplicates"
    OVER_LIMIT = "orbweaver/frontier/over_limit"
    UNSTORABLE = "orbweaver/frontier/unstorable"
    PAGES_FINISHED = "orbweaver/frontier/pages_finished"
    """Page requests finished in this run, all sessions together (the campaign's ``pages_fetched``)."""


def _optional_int(crawler: Crawler, name: Setting) -> int | None:
    value = crawler.settings.get(name.value)
    return None if value in (None, "") else int(value)


class FrontierScheduler:
    """Scrapy scheduler (``SCHEDULER``) over a :class:`Frontier` file.

    Without ``ORBWEAVER_FRONTIER_PATH`` the frontier is a temporary file removed at close
    (a one-off crawl that nobody resumes); it is still on disk, never in memory.
    """

    POP_BATCH = 1
    """Requests read per pop: one, so that a request queued with a higher priority is next."""

    def __init__(self, crawler: Crawler, path: Path | None, budget: Budget, commit_interval_s: float) -> None:
        self.crawler = crawler
        self._path = path
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self.budget = budget
        self.commit_interval_s = commit_interval_s
        self.frontier: Frontier | None = None
        self.spider: Spider | None = None
        self.held = False
        assert crawler.stats is not None  # created with the crawler
        self.stats: StatsCollector = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from the crawl's ``ORBWEAVER_*`` settings."""
        raw_path = crawler.settings.get(Setting.PATH.value)
        budget = Budget(
            max_pages=_optional_int(crawler, Setting.MAX_PAGES),
            max_media=_optional_int(crawler, Setting.MAX_MEDIA),
            max_pages_per_host=_optional_int(crawler, Setting.MAX_PAGES_PER_HOST),
        )
        interval = crawler.settings.getfloat(Setting.COMMIT_INTERVAL_S.value, 0.25)
        return cls(crawler, Path(raw_path) if raw_path else None, budget, interval)

    def open(self, spider: Spider) -> None:
        """Open (or reopen, to resume) the frontier file."""
        self.spider = spider
        path = self._path
        if path is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="orbweaver-frontier-")
            path = Path(self._temporary.name) / "frontier.sqlite3"
        self.frontier = Frontier(path, self.budget, commit_interval_s=self.commit_interval_s,
                                 before_commit=self._before_commit)
        resumed = self.frontier.pending
        self.stats.set_value(Stat.PENDING.value, resumed)
        self.stats.set_value(Stat.PAGES_FINISHED.value, self.frontier.pages_finished)
        log.info("crawler.frontier_opened", path=str(path), resumed_requests=resumed)
        sig = self.crawler.signals
        sig.connect(self._request_finished, signal=request_finished)
        sig.connect(self._hold, signal=hold_requests)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            sig.connect(self._item_done, signal=signal)

    def close(self, reason: str) -> None:
        """Commit and close the frontier (a temporary one is deleted)."""
        if self.frontier is not None:
            self.frontier.close()
            self.frontier = None
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def __len__(self) -> int:
        return 0 if self.frontier is None else self.frontier.pending

    def has_pending_requests(self) -> bool:
        """Whether a request can be handed out now (never while held for a pause or stop)."""
        return not self.held and len(self) > 0

    def _key(self, request: Request) -> bytes | None:
        if request.dont_filter:
            return None
        kind = str(request.meta.get(Meta.KIND.value, FetchKind.PAGE.value))
        return request_key(kind, request.url, request.meta.get(Meta.PAGE_URL.value))

    def enqueue_request(self, request: Request) -> bool:
        """Store a request; False (Scrapy then drops it) for a duplicate or one over a cap."""
        assert self.frontier is not None and self.spider is not None
        key = self._key(request)
        entry_id = request.meta.get(FRONTIER_ID)
        if entry_id is None and key is not None and self.frontier.seen(key):
            # Most links on a page were seen before: refuse them before paying for their JSON.
            self.stats.inc_value(Stat.DUPLICATES.value)
            return False
        try:
            data = encode_request(request, self.spider)
        except ValueError as exc:
            # A callback that is not a spider method cannot be stored; such a request would be
            # lost on restart, so it is refused now rather than silently kept in memory.
            self.stats.inc_value(Stat.UNSTORABLE.value)
            log.warning("crawler.frontier_unstorable", url=request.url, error=str(exc))
            return False
        kind = str(request.meta.get(Meta.KIND.value, FetchKind.PAGE.value))
        if entry_id is not None:
            # A redirect or retry of a handed-out request. A media sighting is about the URL the
            # page named, wherever it redirects, so media follow-ups are never deduped; a page
            # redirected to a page seen before is.
            follow_key = None if kind == FetchKind.MEDIA else key
            queued = self.frontier.requeue(int(entry_id), data, key=follow_key, priority=request.priority)
            if not queued:
                self.stats.inc_value(Stat.DUPLICATES.value)
            self.stats.set_value(Stat.PENDING.value, self.frontier.pending)
            return queued
        outcome = self.frontier.add(data, key=key, kind=kind, host=host_of(request.url), priority=request.priority)
        self.stats.set_value(Stat.PENDING.value, self.frontier.pending)
        if outcome is Added.QUEUED:
            self.stats.inc_value(Stat.QUEUED.value)
            return True
        if outcome is Added.DUPLICATE:
            self.stats.inc_value(Stat.DUPLICATES.value)
        else:
            self.stats.inc_value(f"{Stat.OVER_LIMIT.value}/{outcome.value}")
        return False

    def next_request(self) -> Request | None:
        """Hand out the next request, or None while held or empty."""
        if self.held or self.frontier is None or self.spider is None:
            return None
        entries = self.frontier.pop(self.POP_BATCH)
        if not entries:
            return None
        entry = entries[0]
        request = decode_request(entry.request, self.spider)
        request.meta[FRONTIER_ID] = entry.id
        self.stats.set_value(Stat.PENDING.value, self.frontier.pending)
        return request

    def finish(self, request: Request | None) -> None:
        """Forget a finished request."""
        if request is None or self.frontier is None:
            return
        entry_id = request.meta.get(FRONTIER_ID)
        if entry_id is not None:
            page = str(request.meta.get(Meta.KIND.value, FetchKind.PAGE.value)) == FetchKind.PAGE
            self.frontier.finish(int(entry_id), page=page)
            self.stats.set_value(Stat.PAGES_FINISHED.value, self.frontier.pages_finished)

    def _before_commit(self) -> None:
        for receiver, result in self.crawler.signals.send_catch_log(frontier_committing):
            if isinstance(result, Failure):
                # Committing now would mark requests finished whose page rows or media may be lost.
                raise TransientError(f"{receiver!r} could not hand on the crawl's output: {result.value}")

    def _request_finished(self, request: Request) -> None:
        self.finish(request)

    def _item_done(self, item: Any, response: Response | Failure | None = None, **_: Any) -> None:
        # Errbacks' output does not pass through spider middlewares; every errback of the site
        # spider yields exactly one item, so its request is finished once that item is handled.
        if isinstance(response, Failure):
            self.finish(getattr(response, "request", None))

    def _hold(self) -> None:
        self.held = True
        if self.frontier is not None:
            self.frontier.try_commit()


class FrontierSpiderMiddleware:
    """Spider middleware that signals when a response's callback output has all been processed.

    It sits nearest the engine, so its wrapper is the last one the scraper drains: when it
    finishes, every request the callback yielded is in the frontier and every item went through
    the pipeline. A callback that raised is finished too (fetching it again would raise again).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build for a crawler."""
        return cls(crawler)

    def _finished(self, response: Response) -> None:
        self.crawler.signals.send_catch_log(request_finished, request=response.request)

    def process_spider_exception(self, response: Response, exception: Exception) -> None:
        """A response a middleware refused (an unhandled status) or whose callback raised is finished too."""
        self._finished(response)

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        """Pass the output through, then say the request is finished."""
        try:
            yield from result
        except Exception:
            self._finished(response)
            raise
        self._finished(response)

    async def process_spider_output_async(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Pass the output through, then say the request is finished."""
        try:
            async for output in result:
                yield output
        except Exception:
            self._finished(response)
            raise
        self._finished(response)

"""Unit tests of BusPipeline back-pressure: transient publish failures are retried, a lag throttle delays items."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from sqlalchemy import select

from core.bus.embedded import EmbeddedBus
from core.errors import ConfigError, TransientError
from core.messages import FetchedMedia, MediaSighted, Message, Topic, decode, sha256_hex
from core.store import Store
from core.store.tables.crawler import Campaign, Sighting
from crawler.items import MediaItem
from crawler.pipelines import HASHING_GROUP, PUBLISH_ATTEMPTS, BusPipeline, Stat
from crawler.spiders.site import SiteSpider

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(200))  # benign stand-in bytes


class FlakyBus(EmbeddedBus):
    """The embedded bus, refusing its first ``failures`` publishes as a full send buffer would."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.refused = 0

    def publish(self, message: Message) -> None:
        if self.refused < self.failures:
            self.refused += 1
            raise TransientError("send buffer full")
        super().publish(message)


class Sleeps:
    """Records the pipeline's waits; ``between`` runs at each (a consumer draining the bus)."""

    def __init__(self, between: Any = None) -> None:
        self.waits: list[float] = []
        self.between = between

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.between is not None:
            self.between()


def stats() -> MemoryStatsCollector:
    return MemoryStatsCollector(Crawler(SiteSpider, Settings({"STATS_DUMP": False}), init_reactor=False))


def make_store(tmp_path: Path) -> str:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    with store.session() as s:
        s.add(Campaign(id="c1", name="c1"))
    store.dispose()
    return store.url


def media(n: int = 0, **kw: Any) -> MediaItem:
    values: dict[str, Any] = {
        "campaign_id": "c1",
        "page_url": f"http://s.example/{n}.html",
        "media_url": f"http://s.example/{n}.png",
        "final_url": f"http://s.example/{n}.png",
        "fetched_at": NOW,
        "http_status": 200,
        "headers": {"content-type": "image/png"},
        "body": BODY + bytes([n]),
    }
    values.update(kw)
    return MediaItem(**values)


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[BusPipeline, FlakyBus, Sleeps]]:
    bus = FlakyBus(tmp_path / "bus.sqlite3", failures=3)
    sleeps = Sleeps()
    p = BusPipeline(store_url=make_store(tmp_path), bus_url="unused:", blobs_url=str(tmp_path / "blobs"),
                    inline_media_limit=1024, stats=stats(), bus=bus, sleep=sleeps)
    p.open_spider()
    yield p, bus, sleeps
    p.close_spider()


def run(result: Any) -> Any:
    """Drive what process_item returned: the item itself, or an awaitable of it."""
    return asyncio.run(result) if inspect.isawaitable(result) else result


def read(path: Path) -> list[Message]:
    bus = EmbeddedBus(path)
    try:
        return [decode(p) for p in bus.read_topic(Topic.MEDIA_FETCHED)]
    finally:
        bus.close()


def test_transient_refusals_are_retried_with_backoff_and_published_once(
    flaky: tuple[BusPipeline, FlakyBus, Sleeps], tmp_path: Path
) -> None:
    pipeline, bus, sleeps = flaky
    item = media()
    result = pipeline.process_item(item)
    assert inspect.isawaitable(result)  # the crawl is paused on it, not blocked
    assert run(result) is item
    assert bus.refused == 3
    assert sleeps.waits == [0.25, 0.5, 1.0]  # doubling backoff between tries
    (m,) = read(tmp_path / "bus.sqlite3")
    assert isinstance(m, FetchedMedia) and m.sha256 == sha256_hex(item.body or b"")
    assert item.error is None and pipeline.stats.get_value(Stat.MEDIA.value) == 1
    assert pipeline.stats.get_value(Stat.PUBLISH_RETRIES.value) == 3


def test_a_publish_that_keeps_failing_becomes_a_recorded_error(
    flaky: tuple[BusPipeline, FlakyBus, Sleeps], tmp_path: Path
) -> None:
    pipeline, bus, sleeps = flaky
    bus.failures = 10**6
    pipeline.inline_media_limit = 10  # staged in the blob store: the staged copy must go too
    item = run(pipeline.process_item(media()))
    assert bus.refused == PUBLISH_ATTEMPTS and len(sleeps.waits) == PUBLISH_ATTEMPTS - 1
    assert read(tmp_path / "bus.sqlite3") == []
    assert pipeline.store is not None
    with pipeline.store.session() as s:
        (row,) = s.scalars(select(Sighting))
    assert row.error is not None and row.error.startswith(f"bus refused the item after {PUBLISH_ATTEMPTS} attempts")
    assert row.media_url == item.media_url and row.sha256 is None
    assert [f for f in (tmp_path / "blobs").rglob("*") if f.is_file()] == []  # the staged body went too
    assert pipeline.stats.get_value(Stat.ERRORS.value) == 1 and pipeline.stats.get_value(Stat.MEDIA.value) == 0


def test_a_first_try_that_succeeds_returns_the_item_itself(tmp_path: Path) -> None:
    bus = FlakyBus(tmp_path / "bus.sqlite3", failures=0)
    p = BusPipeline(store_url=make_store(tmp_path), bus_url="unused:", blobs_url=str(tmp_path / "blobs"),
                    inline_media_limit=1024, stats=stats(), bus=bus, sleep=Sleeps())
    p.open_spider()
    try:
        item = media()
        assert p.process_item(item) is item
    finally:
        p.close_spider()


def test_throttle_over_its_limit_delays_items_until_a_consumer_drains(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    drainer = EmbeddedBus(tmp_path / "bus.sqlite3")
    drained: list[Message] = []

    def drain() -> None:
        drainer.consume(Topic.MEDIA_FETCHED, HASHING_GROUP, drained.append, max_messages=2, poll_timeout_s=0.01)

    sleeps = Sleeps(between=drain)
    p = BusPipeline(store_url=make_store(tmp_path), bus_url="unused:", blobs_url=str(tmp_path / "blobs"),
                    inline_media_limit=1024, stats=stats(), bus=bus, sleep=sleeps, max_media_backlog=2)
    p.open_spider()
    try:
        assert p.throttle is not None and p.throttle.group == "hashing"
        first, second = media(1), media(2)
        assert p.process_item(first) is first and p.process_item(second) is second
        assert bus.lag(Topic.MEDIA_FETCHED, HASHING_GROUP) == 2
        third = p.process_item(media(3))
        assert inspect.isawaitable(third)  # over the limit: held back, not published
        assert bus.topic_size(Topic.MEDIA_FETCHED) == 2 and sleeps.waits == []
        run(third)
        assert len(sleeps.waits) >= 1 and len(drained) >= 2  # it waited until the consumer caught up
        assert [m.message_id for m in drained] == [m.message_id for m in read(tmp_path / "bus.sqlite3")[:2]]
        assert len(read(tmp_path / "bus.sqlite3")) == 3
    finally:
        p.close_spider()
        drainer.close()


def test_no_backlog_limit_means_no_throttle(flaky: tuple[BusPipeline, FlakyBus, Sleeps]) -> None:
    assert flaky[0].throttle is None


def test_negative_backlog_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_media_backlog"):
        BusPipeline(store_url="sqlite://", bus_url="unused:", blobs_url=str(tmp_path), inline_media_limit=1,
                    stats=stats(), max_media_backlog=-1)


def test_a_repeat_sighting_is_published_without_a_body(
    flaky: tuple[BusPipeline, FlakyBus, Sleeps], tmp_path: Path
) -> None:
    pipeline, bus, _ = flaky
    bus.failures = 0
    repeat = media(body=None, sha256="ab" * 32, size=42, repeat=True, page_url="http://s.example/other.html")
    assert pipeline.process_item(repeat) is repeat
    (m,) = read(tmp_path / "bus.sqlite3")
    assert isinstance(m, MediaSighted) and m.sha256 == "ab" * 32 and m.size == 42
    assert m.ref.page_url == "http://s.example/other.html" and m.ref.fetched_at == NOW
    assert pipeline.stats.get_value(Stat.REPEATS.value) == 1 and pipeline.stats.get_value(Stat.MEDIA.value) == 1


def test_fetch_once_meta_names_agree_with_the_spider() -> None:
    from crawler import fetch_once
    from crawler.spiders.site import FetchKind, Meta

    assert (Meta.KIND.value, FetchKind.MEDIA.value) == (fetch_once.KIND_META, fetch_once.MEDIA_KIND)


def test_media_memo_forgets_the_least_recently_used_and_releases_waiters() -> None:
    from crawler.fetch_once import FetchOutcome, MediaMemo

    memo = MediaMemo(max_remembered=2)
    memo.start("u1")
    event = memo.in_flight("u1")
    assert event is not None and not event.is_set()
    memo.record("u1", FetchOutcome("u1", 200, NOW, sha256="a" * 64, size=1))
    assert event.is_set() and memo.in_flight("u1") is None
    memo.record("u2", FetchOutcome("u2", 404, NOW))
    assert memo.outcome("u1") is not None  # u1 used again: u2 is now the oldest
    memo.record("u3", FetchOutcome("u3", 200, NOW))
    assert memo.outcome("u2") is None and len(memo) == 2
    memo.start("u4")
    waiting = memo.in_flight("u4")
    memo.failed("u4")
    assert waiting is not None and waiting.is_set() and memo.outcome("u4") is None
    with pytest.raises(ValueError, match="max_remembered"):
        MediaMemo(0)

"""Unit tests of BusPipeline against a real SQLite store, embedded bus and local blob store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.errors import ConfigError
from core.messages import FetchedMedia, Topic, decode, sha256_hex
from core.store import Store
from core.store.tables.crawler import Campaign, Page, Sighting
from crawler.items import MediaItem, PageItem
from crawler.pipelines import BusPipeline, Stat, content_type_of
from crawler.spiders.site import SiteSpider

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # benign stand-in bytes, 1032 long


def stats() -> MemoryStatsCollector:
    return MemoryStatsCollector(Crawler(SiteSpider, Settings({"STATS_DUMP": False}), init_reactor=False))


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[BusPipeline]:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    with store.session() as s:
        s.add(Campaign(id="c1", name="c1"))
    store.dispose()
    p = BusPipeline(
        store_url=store.url,
        bus_url=f"embedded:{tmp_path / 'bus.sqlite3'}",
        blobs_url=str(tmp_path / "blobs"),
        inline_media_limit=1024,
        stats=stats(),
    )
    p.open_spider()
    yield p
    p.close_spider()


def media(body: bytes | None = BODY, **kw: object) -> MediaItem:
    values: dict[str, object] = {
        "campaign_id": "c1",
        "page_url": "http://s.example/",
        "media_url": "http://s.example/a.png",
        "final_url": "http://s.example/b.png",
        "fetched_at": NOW,
        "http_status": 200,
        "resolved_ip": "93.184.216.34",
        "headers": {"content-type": "image/PNG; q=1", "server": "nginx"},
        "body": body,
    }
    values.update(kw)
    return MediaItem(**values)  # type: ignore[arg-type]


def published(tmp_path: Path) -> list[FetchedMedia]:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    try:
        out = [decode(p) for p in bus.read_topic(Topic.MEDIA_FETCHED)]
    finally:
        bus.close()
    assert all(isinstance(m, FetchedMedia) for m in out)
    return out  # type: ignore[return-value]


def test_small_body_is_published_inline(pipeline: BusPipeline, tmp_path: Path) -> None:
    pipeline.process_item(media(BODY[:1000]))
    (m,) = published(tmp_path)
    assert m.body == BODY[:1000] and m.blob_key is None and m.size == 1000
    assert m.sha256 == sha256_hex(BODY[:1000])
    assert m.content_type == "image/png" and m.http_status == 200
    assert m.ref.media_url == "http://s.example/a.png" and m.ref.final_url == "http://s.example/b.png"
    assert m.ref.resolved_ip == "93.184.216.34" and m.ref.fetched_at == NOW
    assert pipeline.stats.get_value(Stat.MEDIA.value) == 1


def test_large_body_is_staged_in_blobs(pipeline: BusPipeline, tmp_path: Path) -> None:
    pipeline.process_item(media(BODY))
    (m,) = published(tmp_path)
    assert m.body is None and m.blob_key == f"staging/{m.message_id}"
    assert LocalBlobStore(tmp_path / "blobs").get(m.blob_key) == BODY
    assert m.size == len(BODY) and m.sha256 == sha256_hex(BODY)


def test_empty_200_body_is_published(pipeline: BusPipeline, tmp_path: Path) -> None:
    pipeline.process_item(media(b""))
    (m,) = published(tmp_path)
    assert m.size == 0 and m.body == b""


def test_failed_media_become_sightings_not_messages(pipeline: BusPipeline, tmp_path: Path) -> None:
    pipeline.process_item(media(None, http_status=404, error="http 404"))
    pipeline.process_item(media(None, http_status=None, error="timeout", headers={}))
    assert published(tmp_path) == []
    assert pipeline.store is not None
    with pipeline.store.session() as s:
        rows = list(s.scalars(select(Sighting).order_by(Sighting.id)))
    assert [(r.http_status, r.error, r.sha256) for r in rows] == [(404, "http 404", None), (None, "timeout", None)]
    assert rows[0].message_id != rows[1].message_id
    assert rows[0].content_type == "image/png" and rows[0].final_url == "http://s.example/b.png"
    assert pipeline.stats.get_value(Stat.ERRORS.value) == 2


def test_pages_are_upserted_per_campaign_and_url(pipeline: BusPipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crawler.pipelines.PAGE_FLUSH_S", 3600.0)
    pipeline.process_item(PageItem("c1", "http://s.example/", 0, NOW, http_status=500, error="http 500"))
    pipeline.flush_pages()
    pipeline.process_item(PageItem("c1", "http://s.example/", 0, NOW, http_status=404, error="http 404"))
    pipeline.process_item(PageItem("c1", "http://s.example/", 0, NOW, http_status=200, media_found=3))
    pipeline.process_item(PageItem("c1", "http://s.example/b", 1, NOW, http_status=200))
    assert pipeline.store is not None
    with pipeline.store.session() as s:
        assert len(list(s.scalars(select(Page)))) == 1  # the rest is still buffered
    pipeline.flush_pages()  # as close_spider does
    with pipeline.store.session() as s:
        rows = {r.url: r for r in s.scalars(select(Page))}
    row = rows["http://s.example/"]
    assert (row.http_status, row.media_found, row.error) == (200, 3, None) and len(rows) == 2


def test_settings_are_required() -> None:
    crawler = Crawler(SiteSpider, Settings({"ORBWEAVER_BUS_URL": "embedded:/tmp/x"}), init_reactor=False)
    crawler.stats = MemoryStatsCollector(crawler)
    with pytest.raises(ConfigError, match="ORBWEAVER_STORE_URL"):
        BusPipeline.from_crawler(crawler)


def test_content_type_of() -> None:
    assert content_type_of({"content-type": "Image/JPEG ; charset=x"}) == "image/jpeg"
    assert content_type_of({}) is None
    assert content_type_of({"content-type": " ;"}) is None

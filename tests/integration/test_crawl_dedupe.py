"""Crawler and hashing stages: a media URL shown on many pages is fetched and hashed once, sighted on each.

The site is served on loopback by the counting server of ``test_crawler``; its one image is a
benign coloured ellipse generated with PIL. The crawl runs through :func:`crawler.run.run_crawl`
into an embedded bus and a SQLite store, then the real hashing stage drains the bus.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.messages import FetchedMedia, MediaSighted, Topic, decode, sha256_hex
from core.store import Store
from core.store.tables.crawler import Campaign, Sighting
from core.store.tables.hashing import Media
from crawler.run import CrawlJob, run_crawl
from crawler.settings import CrawlerSettings
from hashing.settings import HashingSettings
from hashing.stage import HASHED, SPEC, HashingStage
from tests.integration.test_crawler import Route, Site, html, serve, shape_png

pytestmark = pytest.mark.integration

PAGES = 5


def test_media_on_five_pages_is_fetched_once_sighted_five_times_and_hashed_once(tmp_path: Path) -> None:
    image = shape_png((200, 40, 40))
    site = Site("127.0.0.1")
    site.routes["/"] = Route(body=html("".join(f'<a href="/p{i}.html">p{i}</a>' for i in range(PAGES))))
    for i in range(PAGES):
        # Every page shows the same image (and the same missing one) under the same URL.
        site.routes[f"/p{i}.html"] = Route(body=html('<img src="/img/shared.png"><img src="/img/gone.png">'))
    site.routes["/img/shared.png"] = Route(body=image, content_type="image/png")
    site.routes["/img/gone.png"] = Route(404, b"not here", "text/plain")

    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = Store(store_url)
    store.migrate()
    with store.session() as s:
        s.add(Campaign(id="c1", name="dedupe"))
    with serve(site):
        settings = CrawlerSettings(
            max_depth=1, max_pages=20, download_delay_s=0, autothrottle=False, download_timeout_s=10,
            concurrent_requests_per_host=4, allow_private_hosts=["127.0.0.1"],
            contact_url="https://example.org/orbweaver-test",
        )
        summary = run_crawl(CrawlJob(
            campaign_id="c1", seeds=[site.url("/")], bus_url=f"embedded:{tmp_path / 'bus.sqlite3'}",
            store_url=store_url, blobs_url=str(tmp_path / "blobs"), settings=settings, inline_media_limit=1 << 20,
        ))
    assert summary.pages == PAGES + 1
    assert site.hits["/img/shared.png"] == 1
    assert site.hits["/img/gone.png"] == 1

    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    try:
        messages = [decode(p) for p in bus.read_topic(Topic.MEDIA_FETCHED)]
        fetched = [m for m in messages if isinstance(m, FetchedMedia)]
        repeats = [m for m in messages if isinstance(m, MediaSighted)]
        assert len(fetched) == 1 and len(repeats) == PAGES - 1 and len(messages) == PAGES
        first = fetched[0]
        assert first.sha256 == sha256_hex(image)
        assert {r.sha256 for r in repeats} == {first.sha256}
        assert {r.ref.fetched_at for r in repeats} == {first.ref.fetched_at}  # the first fetch's outcome
        pages = {site.url(f"/p{i}.html") for i in range(PAGES)}
        assert {r.ref.page_url for r in repeats} | {first.ref.page_url} == pages

        hashed_before = HASHED.labels("hashed")._value.get()
        stage = HashingStage(bus, store, LocalBlobStore(tmp_path / "blobs"), HashingSettings())
        stats = bus.consume(Topic.MEDIA_FETCHED, SPEC.group, stage.handle, max_messages=PAGES, poll_timeout_s=0.1)
        assert stats.handled == PAGES and stats.dead_lettered == 0
        assert HASHED.labels("hashed")._value.get() - hashed_before == 1
        assert bus.lag(Topic.MEDIA_HASHED, "matcher") == 1  # one item for the matcher, not five
    finally:
        bus.close()

    with store.session() as s:
        sightings = list(s.scalars(select(Sighting)))
        media_rows = list(s.scalars(select(Media)))
    store.dispose()
    shared = [r for r in sightings if r.media_url.endswith("/img/shared.png")]
    gone = [r for r in sightings if r.media_url.endswith("/img/gone.png")]
    # One sighting per (page, media) pair, with the first fetch's outcome on each.
    assert sorted(r.page_url for r in shared) == sorted(site.url(f"/p{i}.html") for i in range(PAGES))
    assert {(r.sha256, r.http_status, r.size, r.error) for r in shared} == {(sha256_hex(image), 200, len(image), None)}
    assert sorted(r.page_url for r in gone) == sorted(site.url(f"/p{i}.html") for i in range(PAGES))
    assert {(r.http_status, r.error) for r in gone} == {(404, "http 404")}
    assert [m.sha256 for m in media_rows] == [sha256_hex(image)]

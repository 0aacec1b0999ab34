"""Reports in the crawler: codes, URL normalisation, duplicate collapsing, and each new URL queued as a report crawl."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from sqlalchemy import func, select

from core.bus.embedded import EmbeddedBus
from core.messages import FetchedMedia, FetchOrigin, Topic, decode
from core.store import Store
from core.store.tables.crawler import Report, ReportedUrl, ReportLink
from crawler.campaigns import Campaigns, CampaignSpec
from crawler.items import MediaItem
from crawler.pipelines import BusPipeline
from crawler.reports import (
    CODE_ALPHABET,
    REPORT_PRIORITY,
    ReportForm,
    ReportRefusedError,
    Reports,
    ReportSource,
    WhereSeen,
    new_code,
    normalise_url,
    parse_code,
    report_facts,
)
from crawler.scrapy_settings import for_job
from crawler.settings import CrawlerSettings
from crawler.spiders.site import SiteSpider
from crawler.worker import CrawlInfrastructure, prepare_run
from tests.fixtures.clock import FakeClock

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    s.migrate()
    yield s
    s.dispose()


def form(*urls: str) -> ReportForm:
    return ReportForm(urls=urls, where_seen=WhereSeen.WEBSITE, source=ReportSource.PUBLIC)


def test_codes_are_typable_and_their_check_character_catches_slips() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in list(codes)[:50]:
        assert len(code) == 10 and set(code) <= set(CODE_ALPHABET)
        assert parse_code(code) == code
        assert parse_code(f" {code[:5].lower()}-{code[5:]} ") == code
        wrong = code[:3] + CODE_ALPHABET[(CODE_ALPHABET.index(code[3]) + 1) % 32] + code[4:]
        assert parse_code(wrong) is None
        if code[1] != code[2]:
            assert parse_code(code[0] + code[2] + code[1] + code[3:]) is None
    assert parse_code("") is None and parse_code("<script>") is None and parse_code("A" * 11) is None
    # What people misread is read as meant: O is 0, I and L are 1.
    code = next(c for c in codes if "0" in c)
    assert parse_code(code.replace("0", "o")) == code


def test_urls_are_normalised_and_anything_but_http_is_refused() -> None:
    assert normalise_url(" HTTP://Example.TEST:80/a?b=1#frag ") == "http://example.test/a?b=1"
    assert normalise_url("https://example.test") == "https://example.test/"
    assert normalise_url("https://example.test:8443/x") == "https://example.test:8443/x"
    for bad in ("javascript:alert(1)", "ftp://example.test/", "example.test/page", "http://exa mple.test/",
                "http://example.test:99999/", "http://" + "a" * 2000 + ".test/"):
        with pytest.raises(ReportRefusedError):
            normalise_url(bad)


def test_one_url_reported_twice_is_one_item_fetched_once_and_both_codes_see_it(store: Store) -> None:
    reports = Reports(store, CrawlerSettings(operator="hotline"), FakeClock(START))
    first = reports.submit(form("http://site.test/a", "http://site.test/b"), max_urls=5)
    second = reports.submit(form("HTTP://SITE.test/a#again", "http://site.test/c"), max_urls=5)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(ReportedUrl)) == 3
        assert s.scalar(select(func.count()).select_from(ReportLink)) == 4
        one, two = report_facts(s, first), report_facts(s, second)
    assert one is not None and two is not None
    assert [u.url for u in one.urls] == ["http://site.test/a", "http://site.test/b"]
    assert [u.url for u in two.urls] == ["http://site.test/a", "http://site.test/c"]
    # The shared URL is crawled by the first report's campaign only; the second report queued just its new URL.
    assert one.urls[0].campaign_id == two.urls[0].campaign_id == one.urls[1].campaign_id
    assert two.urls[1].campaign_id not in (None, one.urls[0].campaign_id)
    campaigns = {c.id: c for c in Campaigns(store).list_all()}
    assert len(campaigns) == 2
    crawl = campaigns[str(one.urls[0].campaign_id)]
    assert crawl.spec.seeds == ["http://site.test/a", "http://site.test/b"]
    assert crawl.spec.limits.max_depth == 0 and crawl.spec.origin is FetchOrigin.REPORT
    assert crawl.spec.allow_private_hosts == []  # the usual address policy: [crawler] allow_private_hosts only
    assert first not in crawl.spec.name and "hotline" in crawl.spec.user_agent


def test_a_report_crawl_is_claimed_before_older_campaigns(store: Store) -> None:
    campaigns = Campaigns(store, FakeClock(START))
    older = campaigns.create(CampaignSpec(name="operator's", seeds=["http://other.test/"], operator="op",
                                          contact_url="https://op.test/"), queued=True)
    Reports(store, CrawlerSettings(), FakeClock(START)).submit(form("http://site.test/a"), max_urls=5)
    claimed = campaigns.claim_next("w1", 60)
    assert claimed is not None and claimed.id != older.id and claimed.spec.origin is FetchOrigin.REPORT
    with store.session() as s:
        assert s.scalar(select(func.max(ReportedUrl.campaign_id))) == claimed.id
    assert campaigns.get(claimed.id).state.value == "running"
    assert REPORT_PRIORITY > 0


def test_reports_refuse_no_urls_too_many_and_bad_ones_storing_nothing(store: Store) -> None:
    reports = Reports(store, CrawlerSettings(), FakeClock(START))
    for urls, why in (((" ", ""), "at least one"), (tuple(f"http://s.test/{i}" for i in range(4)), "at most 3"),
                      (("http://s.test/", "javascript:alert(1)"), "http")):
        with pytest.raises(ReportRefusedError, match=why):
            reports.submit(form(*urls), max_urls=3)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == 0


def test_a_report_crawls_media_refs_say_origin_report(store: Store, tmp_path: Path) -> None:
    """From the campaign row to the bus: the worker's job, the Scrapy settings, the pipeline's references."""
    Reports(store, CrawlerSettings(), FakeClock(START)).submit(form("http://site.test/a"), max_urls=5)
    campaigns = Campaigns(store, FakeClock(START))
    record = campaigns.claim_next("w1", 60)
    assert record is not None
    bus_url = f"embedded:{tmp_path / 'bus.sqlite3'}"
    infra = CrawlInfrastructure(bus_url=bus_url, store_url=store.url, blobs_url=str(tmp_path / "blobs"),
                                inline_media_limit=1024, frontier_dir=tmp_path, crawler=CrawlerSettings())
    job = prepare_run(campaigns, record, infra, owner="w1")
    assert job.origin is FetchOrigin.REPORT and job.settings.max_depth == 0
    crawler = Crawler(SiteSpider, Settings(for_job(job)), init_reactor=False)
    crawler.stats = MemoryStatsCollector(crawler)
    pipeline = BusPipeline.from_crawler(crawler)
    pipeline.open_spider()
    try:
        pipeline.process_item(MediaItem(campaign_id=record.id, page_url="http://site.test/a",
                                        media_url="http://site.test/1.png", final_url="http://site.test/1.png",
                                        fetched_at=START, http_status=200, resolved_ip="192.0.2.1",
                                        headers={"content-type": "image/png"}, body=b"png"))
    finally:
        pipeline.close_spider()
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    try:
        (sent,) = [decode(p) for p in bus.read_topic(Topic.MEDIA_FETCHED)]
    finally:
        bus.close()
    assert isinstance(sent, FetchedMedia) and sent.ref.origin is FetchOrigin.REPORT

"""Unit tests of crawl jobs, their Scrapy settings, and how a failing crawl child is reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import TransientError
from core.store import Store
from core.store.tables.crawler import Campaign
from crawler import scrapy_settings
from crawler.run import CrawlJob, CrawlSummary, run_crawl
from crawler.settings import CrawlerSettings


def job(tmp_path: Path, **kw: object) -> CrawlJob:
    values: dict[str, object] = {
        "campaign_id": "c1",
        "seeds": ["http://93.184.216.34/"],
        "bus_url": f"embedded:{tmp_path / 'bus.sqlite3'}",
        "store_url": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "blobs_url": str(tmp_path / "blobs"),
        "inline_media_limit": 1000,
    }
    values.update(kw)
    return CrawlJob.model_validate(values)


def test_settings_have_honest_defaults_and_reject_unknown_keys() -> None:
    s = CrawlerSettings()
    assert s.effective_user_agent() == "orbweaver/0.1 (+https://github.com/orbweaver/orbweaver)"
    assert s.obey_robots and s.max_depth == 3 and s.max_pages == 1000 and s.allow_private_hosts == []
    assert CrawlerSettings(contact_url="https://x.example/c").effective_user_agent().endswith("(+https://x.example/c)")
    with pytest.raises(ValidationError):
        CrawlerSettings.model_validate({"max_dept": 2})
    assert all(f.description for f in CrawlerSettings.model_fields.values())


def test_job_maps_to_scrapy_settings(tmp_path: Path) -> None:
    settings = CrawlerSettings(
        max_response_bytes=1234,
        max_redirects=0,
        obey_robots=False,
        download_delay_s=0.25,
        concurrent_requests_per_host=3,
        download_timeout_s=7,
        allow_private_hosts=["127.0.0.1"],
    )
    out = scrapy_settings.for_job(job(tmp_path, settings=settings))
    assert out["DOWNLOAD_MAXSIZE"] == 1234
    assert out["REDIRECT_ENABLED"] is False and out["ROBOTSTXT_OBEY"] is False
    assert out["DOWNLOAD_DELAY"] == 0.25 and out["CONCURRENT_REQUESTS_PER_DOMAIN"] == 3
    assert out["DOWNLOAD_TIMEOUT"] == 7
    assert out["ORBWEAVER_ALLOW_PRIVATE_HOSTS"] == ["127.0.0.1"]
    assert out["ORBWEAVER_INLINE_MEDIA_LIMIT"] == 1000
    assert out["TELNETCONSOLE_ENABLED"] is False and out["REMOTE_CONTROL_ENABLED"] is False
    assert out["LOG_LEVEL"] == "WARNING" and out["ROBOTSTXT_USER_AGENT"] == "orbweaver"
    assert "TYPE_CHECKING" not in out and "typing" not in out
    assert out["USER_AGENT"].startswith("orbweaver/0.1 (+")


def test_job_is_frozen_and_needs_seeds(tmp_path: Path) -> None:
    j = job(tmp_path)
    with pytest.raises(ValidationError):
        j.campaign_id = "other"
    with pytest.raises(ValidationError):
        job(tmp_path, seeds=[])
    assert CrawlJob.model_validate_json(j.model_dump_json()) == j


def test_failed_crawl_child_raises_transient_and_marks_campaign_failed(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    with store.session() as s:
        s.add(Campaign(id="c1", name="c1"))
    progress: list[CrawlSummary] = []
    # An unusable bus URL makes the pipeline fail to open inside the child.
    with pytest.raises(TransientError, match="exit code 1"):
        run_crawl(job(tmp_path, bus_url="nope://bus"), on_progress=progress.append)
    with store.session() as s:
        row = s.get(Campaign, "c1")
        assert row is not None and row.status == "failed" and row.finished_at is not None
    store.dispose()

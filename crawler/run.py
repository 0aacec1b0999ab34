"""Crawler stage entry points: run one crawl job, in a child process or in this one.

Twisted's reactor cannot be restarted within a process, and callers (the demo, the CLI, tests)
may crawl several times, so :func:`run_crawl` runs each crawl in a fresh ``spawn``-ed child
and relays its running totals back through a queue.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field

from core.errors import TransientError
from core.messages import utcnow
from core.store import Store
from core.store.models import Campaign
from crawler.settings import CrawlerSettings

log = structlog.get_logger(__name__)

PROGRESS_INTERVAL_S = 0.5
"""How often the child reports running totals (the parent reports at least once a second)."""


class CrawlJob(BaseModel):
    """Everything one crawl needs; crosses the process boundary as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign_id: str = Field(min_length=1)
    seeds: list[str] = Field(min_length=1)
    bus_url: str
    store_url: str
    blobs_url: str
    settings: CrawlerSettings = Field(default_factory=CrawlerSettings)
    inline_media_limit: int = Field(ge=0)
    s3_endpoint_url: str | None = None


@dataclass
class CrawlSummary:
    """Running or final totals of a crawl."""

    pages: int = 0
    media: int = 0
    errors: int = 0
    seconds: float = 0.0


class CampaignStatus(StrEnum):
    """Campaign.status values the crawler writes."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


def _mark_campaign(store: Store, job: CrawlJob, status: str) -> None:
    with store.session() as s:
        row = s.get(Campaign, job.campaign_id)
        if row is None:
            if status != CampaignStatus.RUNNING:
                return
            # Pages reference their campaign; a crawl started without a row (the crawler-only
            # CLI) gets a minimal one rather than failing every page insert.
            row = Campaign(id=job.campaign_id, name=job.campaign_id, seeds=list(job.seeds))
            s.add(row)
        row.status = status
        if status == CampaignStatus.RUNNING:
            row.started_at = utcnow()
        else:
            row.finished_at = utcnow()


def _summary_from_stats(stats: dict[str, Any], started: float) -> CrawlSummary:
    from crawler.pipelines import Stat

    return CrawlSummary(
        pages=int(stats.get(Stat.PAGES.value, 0)),
        media=int(stats.get(Stat.MEDIA.value, 0)),
        errors=int(stats.get(Stat.ERRORS.value, 0)),
        seconds=time.monotonic() - started,
    )


def _cap_scrapy_logging(level: str) -> None:
    for name in ("scrapy", "twisted"):
        logging.getLogger(name).setLevel(level)


def crawl_in_this_process(
    job: CrawlJob,
    on_progress: Callable[[CrawlSummary], None] | None = None,
    *,
    install_signal_handlers: bool = True,
) -> CrawlSummary:
    """Run one crawl with Scrapy in this process (at most once per process: see module doc).

    Marks the campaign running, then finished or failed.

    Args:
        job: The crawl to run.
        on_progress: Called with running totals about every half second.
        install_signal_handlers: Let Ctrl-C stop the crawl gracefully (main thread only).

    Returns:
        The final totals.

    Raises:
        MissingExtraError: If Scrapy is not installed.
        TransientError: If the crawl could not run to its end.

    """
    from core.optional import require

    require("scrapy", "crawler")
    from scrapy.crawler import CrawlerProcess
    from twisted.internet import task
    from twisted.python.failure import Failure

    from crawler import scrapy_settings
    from crawler.spiders.site import SiteSpider

    started = time.monotonic()
    store = Store(job.store_url)
    store.migrate()
    _mark_campaign(store, job, CampaignStatus.RUNNING)
    log.info("crawler.started", campaign_id=job.campaign_id, seeds=job.seeds)

    settings = scrapy_settings.for_job(job)
    # Scrapy sets its own loggers to DEBUG and relies on its root handler (not installed: see
    # LOG_INSTALL_ROOT_HANDLER) to filter; cap them so the service's handler sees LOG_LEVEL:
    # before the process logs its first line, and again after its logging set-up reset them.
    _cap_scrapy_logging(settings["LOG_LEVEL"])
    process = CrawlerProcess(settings)
    _cap_scrapy_logging(settings["LOG_LEVEL"])
    crawler = process.create_crawler(SiteSpider)
    failures: list[str] = []
    done = process.crawl(
        crawler,
        campaign_id=job.campaign_id,
        seeds=job.seeds,
        max_depth=job.settings.max_depth,
        max_pages=job.settings.max_pages,
    )

    def crawl_failed(failure: Failure) -> None:
        failures.append(f"{type(failure.value).__name__}: {failure.value}")

    done.addErrback(crawl_failed)

    def report() -> None:
        if on_progress is not None and crawler.stats is not None:
            on_progress(_summary_from_stats(crawler.stats.get_stats(), started))

    ticker = task.LoopingCall(report)
    ticker.start(PROGRESS_INTERVAL_S, now=False)
    try:
        process.start(install_signal_handlers=install_signal_handlers)
    finally:
        if ticker.running:
            ticker.stop()
    stats = crawler.stats.get_stats() if crawler.stats is not None else {}
    summary = _summary_from_stats(stats, started)
    reason = stats.get("finish_reason")
    ok = not failures and reason == "finished"
    _mark_campaign(store, job, CampaignStatus.FINISHED if ok else CampaignStatus.FAILED)
    store.dispose()
    log.info(
        "crawler.finished", campaign_id=job.campaign_id, ok=ok, reason=reason, **asdict(summary)
    )
    if failures:
        raise TransientError(f"crawl of campaign {job.campaign_id} failed: {failures[0]}")
    if on_progress is not None:
        on_progress(summary)
    return summary


def _child_main(job_json: str, out: Any) -> None:
    # Runs in the spawned child: a fresh interpreter with its own reactor.
    from core.logging import configure

    configure(level="warning")
    job = CrawlJob.model_validate_json(job_json)
    try:
        summary = crawl_in_this_process(job, lambda s: out.put(("progress", asdict(s))))
    except Exception as exc:  # reported to the parent, which raises it as a TransientError
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from exc
    out.put(("done", asdict(summary)))


def run_crawl(
    job: CrawlJob, on_progress: Callable[[CrawlSummary], None] | None = None
) -> CrawlSummary:
    """Run one crawl in a spawned child process and wait for it.

    Args:
        job: The crawl to run.
        on_progress: Called in this process with running totals at least once a second.

    Returns:
        The final totals.

    Raises:
        TransientError: If the child failed or died (its exit code is in the message).

    """
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    child = ctx.Process(
        target=_child_main,
        args=(job.model_dump_json(), messages),
        name=f"orbweaver-crawl-{job.campaign_id}",
    )
    started = time.monotonic()
    child.start()
    latest = CrawlSummary()
    final: CrawlSummary | None = None
    error: str | None = None
    last_report = time.monotonic()
    try:
        while final is None and error is None:
            try:
                kind, payload = messages.get(timeout=0.25)
            except queue.Empty:
                if not child.is_alive():
                    # One last look: the child may have put its result just before exiting.
                    try:
                        kind, payload = messages.get(timeout=0.5)
                    except queue.Empty:
                        break
                else:
                    kind, payload = "tick", None
            if kind == "progress":
                latest = CrawlSummary(**payload)
            elif kind == "done":
                final = CrawlSummary(**payload)
            elif kind == "error":
                error = str(payload)
            now = time.monotonic()
            if on_progress is not None and (kind == "progress" or now - last_report >= 1.0):
                latest.seconds = now - started
                on_progress(latest)
                last_report = now
        child.join(timeout=30)
    finally:
        if child.is_alive():
            child.terminate()
            child.join(timeout=10)
        messages.close()
    if final is not None:
        final.seconds = time.monotonic() - started
        if on_progress is not None:
            on_progress(final)
        return final
    _mark_failed_after_death(job)
    raise TransientError(
        f"crawl child for campaign {job.campaign_id} failed (exit code {child.exitcode})"
        + (f": {error}" if error else "")
    )


def _mark_failed_after_death(job: CrawlJob) -> None:
    # The child could not record its own end; do it here so the campaign does not stay
    # "running" forever.
    store = Store(job.store_url)
    try:
        _mark_campaign(store, job, CampaignStatus.FAILED)
    except TransientError as exc:
        log.warning("crawler.mark_failed_failed", campaign_id=job.campaign_id, error=str(exc))
    finally:
        store.dispose()

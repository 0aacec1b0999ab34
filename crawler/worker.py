"""Crawler stage worker: runs campaigns handed to it through the store, one at a time.

A worker claims the oldest ``queued`` campaign, or a running one whose crawler died (its lease
expired), crawls it in a child process (:func:`crawler.run.run_crawl`), and meanwhile queues
recurring campaigns whose next run is due. Stopping the worker shuts its crawl down gracefully
and hands the campaign back (``queued``) with its frontier, for this or another worker to resume.
:func:`prepare_run` is shared with the foreground ``orbweaver campaign start``.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

from core.errors import OrbweaverError
from core.store import Store
from crawler.campaigns import CampaignRecord, Campaigns, frontier_path_for
from crawler.run import CrawlJob, CrawlSummary, run_crawl
from crawler.settings import CrawlerSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CrawlInfrastructure:
    """Where a crawl publishes and records, and where frontiers live."""

    bus_url: str
    store_url: str
    blobs_url: str
    inline_media_limit: int
    frontier_dir: Path
    crawler: CrawlerSettings
    s3_endpoint_url: str | None = None


def worker_identity() -> str:
    """A lease owner name that says which process holds a campaign."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def prepare_run(
    campaigns: Campaigns,
    record: CampaignRecord,
    infra: CrawlInfrastructure,
    *,
    owner: str,
    interrupted_state: Literal["paused", "queued"] = "paused",
    report_media: bool = False,
) -> CrawlJob:
    """Build the crawl job of a claimed campaign: a resumed run if its frontier file is there.

    A fresh run (no frontier file: first run, or after finishing or stopping) resets the
    campaign's counters; a resumed one carries them on (pages are counted by the frontier file itself).
    """
    path = frontier_path_for(infra.frontier_dir, record.id)
    fresh = not path.exists()
    campaigns.set_frontier(record.id, path, fresh_run=fresh)
    run = campaigns.get(record.id).run_count  # counted by set_frontier for a fresh run
    base = (
        {}
        if fresh
        else {
            "media_fetched": record.media_fetched,
            "fetch_errors": record.fetch_errors,
        }
    )
    spec = record.spec
    return CrawlJob(
        campaign_id=record.id,
        seeds=list(spec.seeds),
        bus_url=infra.bus_url,
        store_url=infra.store_url,
        blobs_url=infra.blobs_url,
        inline_media_limit=infra.inline_media_limit,
        s3_endpoint_url=infra.s3_endpoint_url,
        settings=spec.crawler_settings(infra.crawler),
        scope=spec.scope,
        concurrent_requests=spec.rate.concurrent_requests,
        max_media=spec.limits.max_media,
        max_pages_per_host=spec.limits.max_pages_per_host,
        proxy=spec.proxy,
        render=spec.render,
        frontier_path=str(path),
        frontier_commit_interval_s=infra.crawler.frontier_commit_interval_s,
        lease_owner=owner,
        lease_s=infra.crawler.lease_s,
        interrupted_state=interrupted_state,
        base_counters=base,
        run_key=f"{record.id}/run-{run}",
        report_media=report_media,
        origin=spec.origin,
    )


CrawlRunner = Callable[..., CrawlSummary]
""":func:`crawler.run.run_crawl`'s signature (tests inject a fake)."""


class CrawlerWorker:
    """Claims campaigns from the store and crawls them, until stopped.

    Args:
        infra: Where crawls publish and record.
        campaigns: The campaign rows (with the clock recurrences are judged by).
        owner: Lease owner name; a fresh one if omitted.
        runner: Runs one crawl job (default :func:`crawler.run.run_crawl`).

    """

    def __init__(
        self,
        infra: CrawlInfrastructure,
        campaigns: Campaigns,
        *,
        owner: str | None = None,
        runner: CrawlRunner = run_crawl,
    ) -> None:
        self.infra = infra
        self.campaigns = campaigns
        self.owner = owner or worker_identity()
        self.runner = runner
        self.crawled: list[str] = []

    def run_once(self, stop: threading.Event | None = None) -> str | None:
        """Queue due recurrences, then claim and crawl one campaign.

        Returns:
            The id of the campaign crawled, or None if none was waiting.

        """
        for cid in self.campaigns.promote_due():
            log.info("crawler.recurrence_due", campaign_id=cid)
        record = self.campaigns.claim_next(self.owner, self.infra.crawler.lease_s)
        if record is None:
            return None
        job = prepare_run(self.campaigns, record, self.infra, owner=self.owner, interrupted_state="queued")
        log.info("crawler.campaign_claimed", campaign_id=record.id, owner=self.owner, resume=bool(job.base_counters))
        try:
            summary = self.runner(job, stop=stop)
            log.info("crawler.campaign_ran", campaign_id=record.id, state=summary.state, reason=summary.reason)
        except OrbweaverError as exc:
            # The runner has already marked the campaign failed; the worker goes on with others.
            log.error("crawler.campaign_failed", campaign_id=record.id, error=str(exc))
        self.crawled.append(record.id)
        return record.id

    def run_forever(self, stop: threading.Event) -> int:
        """Crawl campaigns until ``stop`` is set; return how many runs were made."""
        log.info("crawler.worker_started", owner=self.owner)
        while not stop.is_set():
            try:
                ran = self.run_once(stop)
            except OrbweaverError as exc:
                log.warning("crawler.worker_poll_failed", error=str(exc))
                ran = None
            if ran is None:
                stop.wait(self.infra.crawler.worker_poll_s)
        log.info("crawler.worker_stopped", owner=self.owner, runs=len(self.crawled))
        return len(self.crawled)


def open_worker(infra: CrawlInfrastructure, **kwargs: Any) -> CrawlerWorker:
    """A worker over the store named by ``infra`` (migrated first)."""
    store = Store(infra.store_url)
    store.migrate()
    return CrawlerWorker(infra, Campaigns(store), **kwargs)

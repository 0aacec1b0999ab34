"""Crawler stage entry points: run one crawl job, in a child process or in this one.

Twisted's reactor cannot be restarted within a process, and callers (the demo, the CLI, tests)
may crawl several times, so :func:`run_crawl` runs each crawl in a fresh ``spawn``-ed child
and relays its running totals (and, if asked, one record per media fetch) back through a queue.

A job with a ``lease_owner`` belongs to a campaign that its caller has claimed
(:meth:`crawler.campaigns.Campaigns.claim`): its frontier file lets it resume, the
:class:`crawler.control.CampaignControl` extension heartbeats it, and when the crawl ends the
campaign becomes finished, paused, stopped, failed or (handed back by a worker) queued.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from core.errors import TransientError
from core.messages import FetchOrigin, utcnow
from core.store import Store
from core.store.tables.crawler import Campaign
from crawler.campaigns import Campaigns, CampaignState
from crawler.scope import Scope
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
    scope: Scope = Field(default_factory=Scope)
    concurrent_requests: int = Field(default=16, ge=1)
    max_media: int | None = Field(default=None, ge=1)
    max_pages_per_host: int | None = Field(default=None, ge=1)
    proxy: str | None = None
    render: bool = False
    frontier_path: str | None = None
    """The campaign's frontier file (reopened to resume); None: a temporary one."""
    frontier_commit_interval_s: float = Field(default=0.25, ge=0)
    lease_owner: str | None = None
    """Who holds the campaign's lease (set: the crawl heartbeats it and releases it at the end)."""
    lease_s: float = Field(default=60.0, gt=0)
    control_poll_s: float = Field(default=1.0, gt=0)
    interrupted_state: Literal["paused", "queued"] = "paused"
    """Where a campaign goes when its crawl is shut down by a signal (a worker hands it back)."""
    base_counters: dict[str, int] = Field(default_factory=dict)
    run_key: str | None = None
    """Names the campaign run (shared by its resumed sessions): media sightings get ids from natural keys."""
    report_media: bool = False
    """Relay one record per media fetch to the caller (``orbweaver crawl --json``)."""
    origin: FetchOrigin = FetchOrigin.CAMPAIGN
    """Why the crawl fetches: its media references say so (a report's unmatched media goes to triage)."""


@dataclass
class CrawlSummary:
    """Running or final totals of a crawl."""

    pages: int = 0
    media: int = 0
    errors: int = 0
    seconds: float = 0.0
    queued: int = 0
    reason: str | None = None
    """Why the crawl ended (Scrapy's finish reason), in the final summary."""
    state: str | None = None
    """The campaign state the crawl left, in the final summary of a leased job."""


def _mark_campaign(store: Store, job: CrawlJob, status: CampaignState) -> None:
    with store.session() as s:
        row = s.get(Campaign, job.campaign_id)
        if row is None:
            if status != CampaignState.RUNNING:
                return
            # Pages reference their campaign; a crawl started without a row (the crawler-only
            # CLI) gets a minimal one rather than failing every page insert.
            row = Campaign(id=job.campaign_id, name=job.campaign_id, seeds=list(job.seeds))
            s.add(row)
        row.status = status
        if status == CampaignState.RUNNING:
            row.started_at = utcnow()
        else:
            row.finished_at = utcnow()


def _summary_from_stats(stats: dict[str, Any], started: float) -> CrawlSummary:
    from crawler.frontier import Stat as FrontierStat
    from crawler.pipelines import Stat

    return CrawlSummary(
        pages=int(stats.get(Stat.PAGES.value, 0)),
        media=int(stats.get(Stat.MEDIA.value, 0)),
        errors=int(stats.get(Stat.ERRORS.value, 0)),
        seconds=time.monotonic() - started,
        queued=int(stats.get(FrontierStat.PENDING.value, 0)),
    )


def outcome_of(reason: str | None, job: CrawlJob) -> CampaignState | None:
    """The campaign state a crawl's close reason leads to (None: the lease was lost; leave it)."""
    from crawler.control import CloseReason

    if reason == "finished":
        return CampaignState.FINISHED
    if reason == CloseReason.PAUSED:
        return CampaignState.PAUSED
    if reason == CloseReason.STOPPED:
        return CampaignState.STOPPED
    if reason == CloseReason.LEASE_LOST:
        return None
    if reason == "shutdown":
        return CampaignState(job.interrupted_state)
    return CampaignState.FAILED


def media_record(item: Any) -> dict[str, Any] | None:
    """The report line of one media item (``crawl --json``): URLs, status, sha256 or error; no bytes."""
    from crawler.items import MediaItem

    if not isinstance(item, MediaItem):
        return None
    record: dict[str, Any] = {
        "media_url": item.media_url,
        "final_url": item.final_url,
        "page_url": item.page_url,
        "status": item.http_status,
    }
    if item.error is None and item.sha256 is not None:
        record["sha256"] = item.sha256
    else:
        record["error"] = item.error or "no body"
    return record


class _ScrapyLevelFilter(logging.Filter):
    """Drops Scrapy's and Twisted's records below the crawl's LOG_LEVEL.

    Scrapy resets its loggers to DEBUG inside ``CrawlerProcess()`` and logs its banner before
    any caller can cap them again, so the filter sits on the root handlers instead.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or record.name.partition(".")[0] not in ("scrapy", "twisted")


def _cap_scrapy_logging(level: str) -> None:
    for name in ("scrapy", "twisted"):
        logging.getLogger(name).setLevel(level)
    numeric = logging.getLevelName(level.upper())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _ScrapyLevelFilter) for f in handler.filters):
            handler.addFilter(_ScrapyLevelFilter(numeric if isinstance(numeric, int) else logging.WARNING))


def crawl_in_this_process(
    job: CrawlJob,
    on_progress: Callable[[CrawlSummary], None] | None = None,
    *,
    install_signal_handlers: bool = True,
    on_media: Callable[[dict[str, Any]], None] | None = None,
) -> CrawlSummary:
    """Run one crawl with Scrapy in this process (at most once per process: see module doc).

    A job without a lease marks its campaign running, then finished or failed. A leased job's
    campaign was claimed by the caller; its end state follows the close reason (:func:`outcome_of`).

    Args:
        job: The crawl to run.
        on_progress: Called with running totals about every half second.
        install_signal_handlers: Let Ctrl-C stop the crawl gracefully (main thread only).
        on_media: Called with :func:`media_record` of every media item (if ``job.report_media``).

    Returns:
        The final totals.

    Raises:
        MissingExtraError: If Scrapy is not installed.
        TransientError: If the crawl could not run to its end.

    """
    from core.optional import require

    require("scrapy", "crawler")
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from twisted.internet import task
    from twisted.python.failure import Failure

    from crawler import scrapy_settings
    from crawler.spiders.site import SiteSpider

    started = time.monotonic()
    store = Store(job.store_url)
    store.migrate()
    if job.lease_owner is None:
        _mark_campaign(store, job, CampaignState.RUNNING)
    log.info("crawler.started", campaign_id=job.campaign_id, seeds=len(job.seeds), resume=bool(job.base_counters))

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
        scope=job.scope,
        render=job.render,
    )
    if on_media is not None and job.report_media:

        def item_scraped(item: Any) -> None:
            record = media_record(item)
            if record is not None:
                on_media(record)

        crawler.signals.connect(item_scraped, signal=signals.item_scraped)

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
    summary.reason = None if reason is None else str(reason)
    ok = not failures and reason == "finished"
    if job.lease_owner is None:
        _mark_campaign(store, job, CampaignState.FINISHED if ok else CampaignState.FAILED)
    else:
        outcome = CampaignState.FAILED if failures else outcome_of(summary.reason, job)
        if outcome is not None:
            why = failures[0] if failures else f"crawl ended: {summary.reason}"
            written = Campaigns(store).release(job.campaign_id, job.lease_owner, outcome, why)
            summary.state = None if written is None else written.value
    store.dispose()
    log.info(
        "crawler.finished", campaign_id=job.campaign_id, ok=ok, **asdict(summary)
    )
    if failures:
        raise TransientError(f"crawl of campaign {job.campaign_id} failed: {failures[0]}")
    if on_progress is not None:
        on_progress(summary)
    return summary


PARENT_CHECK_S = 0.5
"""How often a crawl child looks whether its parent is still alive (where the kernel cannot tell it)."""

_PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal this process gets when the thread that started it dies."""


def die_with_parent(parent_pid: int) -> None:
    """Make this process end as soon as ``parent_pid`` (the process that started it) ends.

    The crawl child leaves its parent's process group (see :func:`_child_main`), so a parent killed
    outright would leave it crawling, renewing the campaign's lease, with nobody to stop it. On Linux
    the kernel sends it SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); everywhere, a daemon
    thread also watches the parent's pid and kills this process when it changes (reparented).
    SIGKILL, not SIGTERM: a graceful Scrapy shutdown would finish requests in flight and could
    start others; the frontier and page rows survive a kill (requests not finished are fetched again).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.warning("crawler.pdeathsig_failed", errno=ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            log.warning("crawler.pdeathsig_failed", error=str(exc))

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGKILL)

    # The parent may have died before prctl took effect: the watcher's first look catches that.
    threading.Thread(target=watch, name="orbweaver-parent-watch", daemon=True).start()


def _child_main(job_json: str, out: Any, parent_pid: int | None = None) -> None:
    # Runs in the spawned child: a fresh interpreter with its own reactor.
    from core.logging import configure

    if hasattr(os, "setpgrp"):
        # Out of the terminal's process group: a Ctrl-C reaches only the parent, which asks
        # this child to stop once (a second signal would make Scrapy stop uncleanly).
        os.setpgrp()
    if parent_pid is not None:
        die_with_parent(parent_pid)
    configure(level="warning")
    job = CrawlJob.model_validate_json(job_json)
    try:
        summary = crawl_in_this_process(
            job,
            lambda s: out.put(("progress", asdict(s))),
            on_media=lambda record: out.put(("media", record)),
        )
    except Exception as exc:  # reported to the parent, which raises it as a TransientError
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from exc
    out.put(("done", asdict(summary)))


def run_crawl(
    job: CrawlJob,
    on_progress: Callable[[CrawlSummary], None] | None = None,
    *,
    on_media: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> CrawlSummary:
    """Run one crawl in a spawned child process and wait for it.

    Ctrl-C (or ``stop``) asks the child to shut down gracefully, once: in-flight requests end,
    the frontier is saved, and a leased campaign goes to ``job.interrupted_state``.

    Args:
        job: The crawl to run.
        on_progress: Called in this process with running totals at least once a second.
        on_media: Called with one record per media fetch (needs ``job.report_media``).
        stop: Set it to shut the crawl down gracefully (a worker being stopped).

    Returns:
        The final totals.

    Raises:
        TransientError: If the child failed or died (its exit code is in the message).

    """
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    child = ctx.Process(
        target=_child_main,
        args=(job.model_dump_json(), messages, os.getpid()),
        name=f"orbweaver-crawl-{job.campaign_id}",
    )
    started = time.monotonic()
    child.start()
    latest = CrawlSummary()
    final: CrawlSummary | None = None
    error: str | None = None
    last_report = time.monotonic()
    asked_to_stop = False

    def ask_to_stop() -> None:
        nonlocal asked_to_stop
        if not asked_to_stop and child.is_alive():
            asked_to_stop = True
            child.terminate()  # SIGTERM: Scrapy shuts down gracefully

    restore_sigterm = _stop_on_sigterm(ask_to_stop) if stop is None else None
    try:
        while final is None and error is None:
            if stop is not None and stop.is_set():
                ask_to_stop()
            try:
                kind, payload = messages.get(timeout=0.25)
            except KeyboardInterrupt:
                ask_to_stop()
                continue
            except queue.Empty:
                if not child.is_alive():
                    # One last look: the child may have put its result just before exiting.
                    try:
                        kind, payload = messages.get(timeout=0.5)
                    except queue.Empty:
                        break
                else:
                    kind, payload = "tick", None
            if kind == "media":
                if on_media is not None:
                    on_media(payload)
                continue
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
        if restore_sigterm is not None:
            restore_sigterm()
        if child.is_alive():
            child.terminate()
            child.join(timeout=10)
        if child.is_alive():
            _kill_group(child.pid)
            child.join(timeout=10)
        messages.close()
    if final is not None:
        final.seconds = time.monotonic() - started
        if on_progress is not None:
            on_progress(final)
        return final
    _mark_failed_after_death(job, child.exitcode)
    raise TransientError(
        f"crawl child for campaign {job.campaign_id} failed (exit code {child.exitcode})"
        + (f": {error}" if error else "")
    )


def _stop_on_sigterm(ask_to_stop: Callable[[], None]) -> Callable[[], None] | None:
    """Let SIGTERM stop the crawl like Ctrl-C does (main thread only); returns how to undo it."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        ask_to_stop()

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _kill_group(pid: int | None) -> None:
    # The child leads its own process group (a renderer's browser lives in it too): a child that would
    # not stop is killed with everything it started, so nothing of it keeps fetching.
    if pid is None or not hasattr(os, "killpg"):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _mark_failed_after_death(job: CrawlJob, exit_code: int | None = None) -> None:
    # The child could not record its own end; do it here so the campaign does not stay
    # "running" forever (a leased campaign keeps its frontier: resuming it loses nothing).
    store = Store(job.store_url)
    try:
        if job.lease_owner is None:
            _mark_campaign(store, job, CampaignState.FAILED)
        else:
            Campaigns(store).release(
                job.campaign_id, job.lease_owner, CampaignState.FAILED, f"crawl process died (exit code {exit_code})"
            )
    except TransientError as exc:
        log.warning("crawler.mark_failed_failed", campaign_id=job.campaign_id, error=str(exc))
    finally:
        store.dispose()

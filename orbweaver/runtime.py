"""Application wiring: opens the shared infrastructure and runs stages as bus consumers.

The same code runs every stage in threads of one process (the embedded demo) or one stage per
process (``orbweaver worker``, :func:`run_worker`); only the bus URL differs. Any number of
workers of a stage may run: they share its consumer group, so each message goes to one of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import structlog

from core.blobs import BlobStore, open_blobs
from core.bus import Bus, ConsumeStats, open_bus
from core.messages import Message, Topic
from core.store import Store
from orbweaver.health import HealthServer, WorkerMonitor, health_app
from orbweaver.settings import Settings
from orbweaver.worker_settings import WorkerSettings

if TYPE_CHECKING:
    from crawler.worker import CrawlInfrastructure

log = structlog.get_logger(__name__)


class StageName(StrEnum):
    """Stages that run as bus consumers, in pipeline order."""

    HASHING = "hashing"
    MATCHING = "matching"
    REVIEW = "review"
    NOTIFIER = "notifier"


STAGE_TOPICS: dict[StageName, Topic] = {
    StageName.HASHING: Topic.MEDIA_FETCHED,
    StageName.MATCHING: Topic.MEDIA_HASHED,
    StageName.REVIEW: Topic.MATCH_CANDIDATES,
    StageName.NOTIFIER: Topic.NOTICE_REQUESTS,
}

STAGE_EXTRA_TOPICS: dict[StageName, tuple[Topic, ...]] = {
    StageName.NOTIFIER: (Topic.RECHECK_RESULTS, Topic.REVIEW_DECISIONS),
}
"""Topics a stage reads besides its main one (the notifier hears recheck results and review's decisions)."""

STAGE_GROUPS: dict[StageName, str] = {
    StageName.HASHING: "hashing",
    StageName.MATCHING: "matcher",
    StageName.REVIEW: "review",
    StageName.NOTIFIER: "notifier",
}
"""Consumer group of each stage; each stage class's ``group`` says the same (a test checks)."""

DEFER_FLUSH_STAGES = frozenset({StageName.HASHING, StageName.MATCHING})
"""Stages whose handler publishes as its last act, so their flushes may wait for one flush per
batch (see ``Bus.consume``). Review marks a settlement announced after its flush returns, so
its flushes must stay real; the notifier publishes nothing."""


class StageHandler(Protocol):
    """What every stage object offers the runner."""

    group: str

    def handle(self, message: Message) -> None:
        """Handle one message."""


@dataclass
class Runtime:
    """The shared infrastructure one process uses."""

    settings: Settings
    bus: Bus
    store: Store
    blobs: BlobStore

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True, client_id: str = "orbweaver") -> Runtime:
        """Open bus, store and blob store from settings (and bring the schema up to date)."""
        core = settings.core
        core.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(core.store_url())
        if migrate:
            store.migrate()
        bus = open_bus(core.bus_url(), client_id=client_id)
        blobs = open_blobs(core.blobs_url(), s3_endpoint_url=core.s3_endpoint_url)
        return cls(settings=settings, bus=bus, store=store, blobs=blobs)

    def close(self) -> None:
        """Release connections."""
        self.bus.close()
        self.store.dispose()


def build_stage(name: StageName, rt: Runtime) -> StageHandler:
    """Construct one stage's handler over the runtime's infrastructure."""
    s = rt.settings
    if name is StageName.HASHING:
        from hashing.stage import HashingStage

        return HashingStage(rt.bus, rt.store, rt.blobs, s.hashing)
    if name is StageName.MATCHING:
        from matcher.engine import Matcher
        from matcher.stage import MatchingStage

        return MatchingStage(rt.bus, rt.store, rt.blobs, Matcher(rt.store, s.matcher))
    if name is StageName.REVIEW:
        from review.stage import ReviewStage

        return ReviewStage(rt.bus, rt.store, s.review)
    from notifier.channels import build_channels
    from notifier.hosting import hosting_from_settings
    from notifier.stage import NotifierStage

    # Channels come from the registry by the names in settings (unknown names: ConfigError).
    channels = build_channels(s.notifier, rt.store)
    if s.notifier.providers_file is not None:
        from notifier.providers import load_directory

        load_directory(rt.store, s.notifier.providers_file)
    return NotifierStage(rt.bus, rt.store, s.notifier, channels, hosting=hosting_from_settings(s.notifier, rt.store))


CRAWLER_WORKER = "crawler"
"""The crawler worker: it claims campaigns from the store rather than consuming a topic, so it is
not a :class:`StageName` (the demo runs every StageName as a thread)."""

def crawl_infrastructure(settings: Settings) -> CrawlInfrastructure:
    """Where crawls of this installation publish, record and keep their frontiers."""
    from crawler.worker import CrawlInfrastructure

    core, crawler = settings.core, settings.crawler
    frontier_dir = Path(crawler.frontier_dir) if crawler.frontier_dir else core.data_dir / "frontiers"
    return CrawlInfrastructure(
        bus_url=core.bus_url(),
        store_url=core.store_url(),
        blobs_url=core.blobs_url(),
        inline_media_limit=core.inline_media_limit,
        frontier_dir=frontier_dir.resolve(),
        crawler=crawler,
        s3_endpoint_url=core.s3_endpoint_url,
    )


def run_crawler_worker(rt: Runtime, stop: threading.Event, *, stats: ConsumeStats | None = None) -> int:
    """Run the crawler worker until ``stop`` is set; return the number of campaign runs it made.

    Besides campaigns it answers ``recheck.requests`` (crawler/recheck.py) in a thread, so one
    crawler worker serves both the crawl and the removal checks the notifier asks for.
    """
    from crawler.campaigns import Campaigns
    from crawler.recheck import RecheckStage, SafeFetcher
    from crawler.safety import AllowList
    from crawler.worker import CrawlerWorker

    crawler = rt.settings.crawler
    fetcher = SafeFetcher(
        AllowList.parse(crawler.allow_private_hosts),
        user_agent=crawler.effective_user_agent(),
        timeout_s=crawler.download_timeout_s,
        max_bytes=crawler.max_response_bytes,
        max_redirects=crawler.max_redirects,
    )
    rechecks = RecheckStage(rt.bus, fetcher)

    def consume_rechecks() -> None:
        rt.bus.consume(Topic.RECHECK_REQUESTS, rechecks.group, rechecks.handle, stop=stop, stats=stats)

    recheck_thread = threading.Thread(target=consume_rechecks, name="recheck", daemon=True)
    recheck_thread.start()
    maintenance = _every(stop, rt.settings.core.bus_maintenance_s, rt.bus.maintain)
    worker = CrawlerWorker(crawl_infrastructure(rt.settings), Campaigns(rt.store))
    try:
        return worker.run_forever(stop)
    finally:
        stop.set()
        for thread in (recheck_thread, maintenance):
            thread.join(timeout=30)


def run_crawler_process(settings: Settings, stop: threading.Event) -> int:
    """Run the crawler worker as a long-lived process, serving ``/metrics`` and ``/healthz`` like a stage.

    Its liveness is the recheck consumer's polling: a crawler process whose bus loop stalls is
    unhealthy even while a campaign is running.

    Returns:
        The number of campaign runs it made.
    """
    from crawler.recheck import RecheckStage

    worker = settings.worker
    rt = Runtime.open(settings, client_id=f"orbweaver-{CRAWLER_WORKER}")
    try:
        stats = ConsumeStats()
        monitor = WorkerMonitor(RecheckStage.group, [Topic.RECHECK_REQUESTS], rt.bus, rt.store, stats, worker)
        with _watched(CRAWLER_WORKER, monitor, worker):
            return run_crawler_worker(rt, stop, stats=stats)
    finally:
        rt.close()


@contextmanager
def _watched(name: str, monitor: WorkerMonitor, worker: WorkerSettings) -> Iterator[None]:
    """Keep ``monitor`` fresh and serve ``/metrics`` and ``/healthz`` (when a port is set) while the body runs."""
    server: HealthServer | None = None
    if worker.metrics_port is not None:
        server = HealthServer(worker.metrics_host, worker.metrics_port, health_app(monitor.health)).start()
        log.info("worker.serving", stage=name, host=worker.metrics_host, port=server.port)
    monitor.start()
    try:
        yield
    finally:
        monitor.stop()
        if server is not None:
            server.stop()


def _every(stop: threading.Event, seconds: float, fn: Callable[[], object]) -> threading.Thread:
    def loop() -> None:
        while not stop.wait(seconds):
            try:
                fn()
            except Exception as exc:
                log.error("runtime.periodic_failed", job=getattr(fn, "__name__", "job"), error=str(exc))

    thread = threading.Thread(target=loop, name="periodic", daemon=True)
    thread.start()
    return thread


def run_stage(
    name: StageName,
    rt: Runtime,
    stop: threading.Event,
    *,
    handler: StageHandler | None = None,
    max_messages: int | None = None,
    stats: ConsumeStats | None = None,
    batch: int = 8,
    poll_timeout_s: float = 0.5,
) -> ConsumeStats:
    """Consume a stage's topic until ``stop`` is set (or ``max_messages`` are handled).

    When ``stop`` is set the batch in hand is finished and committed before this returns.
    """
    stage = handler or build_stage(name, rt)
    periodic: threading.Thread | None = None
    helpers: list[threading.Thread] = []
    helpers_stop = threading.Event()
    if name is StageName.NOTIFIER:
        from notifier.stage import NotifierStage

        assert isinstance(stage, NotifierStage)
        periodic = _every(stop, rt.settings.notifier.flush_every_s, stage.tick)
    if name is StageName.MATCHING:
        from matcher.stage import MatchingStage

        assert isinstance(stage, MatchingStage)
        # Every replica applies every list change from the bus while it consumes media.
        helpers = stage.follow_changes(helpers_stop)
    maintenance = _every(stop, rt.settings.core.bus_maintenance_s, rt.bus.maintain)
    log.info("stage.start", stage=str(name), group=stage.group, bus=type(rt.bus).__name__)
    topics = [STAGE_TOPICS[name], *STAGE_EXTRA_TOPICS.get(name, ())]
    try:
        stats = rt.bus.consume(
            topics,
            stage.group,
            stage.handle,
            stop=stop,
            max_messages=max_messages,
            batch=batch,
            poll_timeout_s=poll_timeout_s,
            defer_flush=name in DEFER_FLUSH_STAGES,
            stats=stats,
        )
    finally:
        helpers_stop.set()
        if handler is None and name is StageName.HASHING:
            from hashing.stage import HashingStage

            assert isinstance(stage, HashingStage)
            stage.close()  # its decoding process, which it started
    log.info("stage.stop", stage=str(name), handled=stats.handled, dead_lettered=stats.dead_lettered)
    for thread in (periodic, maintenance, *helpers):
        if thread is not None:
            thread.join(timeout=1)
    rt.bus.maintain()
    return stats


def run_worker(
    name: StageName, settings: Settings, stop: threading.Event, *, max_messages: int | None = None
) -> ConsumeStats:
    """Run one stage as a long-lived worker process until ``stop`` is set.

    Opens the infrastructure, serves ``/metrics`` and ``/healthz`` when ``[worker]
    metrics_port`` is set, consumes in the stage's group, and on stop finishes the batch in
    hand, commits it, flushes what it published and leaves the group.

    Returns:
        What the consume loop did.

    """
    worker = settings.worker
    rt = Runtime.open(settings, client_id=f"orbweaver-{name}")
    try:
        stage = build_stage(name, rt)
        stats = ConsumeStats()
        monitor = WorkerMonitor(stage.group, [STAGE_TOPICS[name]], rt.bus, rt.store, stats, worker)
        with _watched(str(name), monitor, worker):
            run_stage(
                name,
                rt,
                stop,
                handler=stage,
                max_messages=max_messages,
                stats=stats,
                batch=worker.batch,
                poll_timeout_s=worker.poll_timeout_s,
            )
    finally:
        rt.close()
    return stats

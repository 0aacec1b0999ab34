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
from typing import TYPE_CHECKING

import structlog
from pydantic import BaseModel

from core.blobs import BlobStore, open_blobs
from core.bus import Bus, ConsumeStats, open_bus
from core.stages import SectionT, Stage, StageName, StageSpec
from core.store import Store
from orbweaver.health import HealthServer, WorkerMonitor, health_app
from orbweaver.settings import Settings
from orbweaver.stages import BY_NAME
from orbweaver.worker_settings import WorkerSettings

if TYPE_CHECKING:
    from crawler.worker import CrawlInfrastructure

log = structlog.get_logger(__name__)


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

    def section(self, kind: type[SectionT]) -> SectionT:
        """The settings section of type ``kind``, for a stage's ``build`` (see ``core.stages.StageRuntime``).

        Raises:
            LookupError: If the settings have no section of that type.
        """
        for name in type(self.settings).model_fields:
            value: BaseModel = getattr(self.settings, name)
            if isinstance(value, kind):
                return value
        raise LookupError(f"no settings section of type {kind.__name__}")

    def close(self) -> None:
        """Release connections."""
        self.bus.close()
        self.store.dispose()


def build_stage(name: StageName, rt: Runtime) -> Stage:
    """Construct one stage over the runtime's infrastructure, as its spec says."""
    return BY_NAME[name].build(rt)


CRAWLER_WORKER = "crawler"
"""The crawler worker: it claims campaigns from the store rather than consuming a topic, so it is
not a :class:`StageName`; its recheck consumer is (``Host.CRAWLER``)."""

def crawl_infrastructure(settings: Settings) -> CrawlInfrastructure:
    """Where crawls of this installation publish, record and keep their frontiers."""
    from crawler.worker import CrawlInfrastructure

    core, crawler = settings.core, settings.crawler
    frontier_dir = settings.frontier_dir()
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
    from crawler.worker import CrawlerWorker

    # Built here, not in the thread: settings it cannot work with fail the worker's start.
    rechecks = build_stage(StageName.RECHECK, rt)

    def consume_rechecks() -> None:
        run_stage(StageName.RECHECK, rt, stop, handler=rechecks, stats=stats)

    recheck_thread = threading.Thread(target=consume_rechecks, name="recheck", daemon=True)
    recheck_thread.start()
    worker = CrawlerWorker(crawl_infrastructure(rt.settings), Campaigns(rt.store))
    try:
        return worker.run_forever(stop)
    finally:
        stop.set()
        recheck_thread.join(timeout=30)


def run_crawler_process(settings: Settings, stop: threading.Event) -> int:
    """Run the crawler worker as a long-lived process, serving ``/metrics`` and ``/healthz`` like a stage.

    Its liveness is the recheck consumer's polling: a crawler process whose bus loop stalls is
    unhealthy even while a campaign is running.

    Returns:
        The number of campaign runs it made.
    """
    worker = settings.worker
    rt = Runtime.open(settings, client_id=f"orbweaver-{CRAWLER_WORKER}")
    try:
        stats = ConsumeStats()
        monitor = WorkerMonitor.for_stage(BY_NAME[StageName.RECHECK], rt.bus, rt.store, stats, worker)
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


def _every(stop: threading.Event, seconds: float, fn: Callable[[], object], *, name: str) -> threading.Thread:
    def loop() -> None:
        while not stop.wait(seconds):
            try:
                fn()
            except Exception as exc:
                log.error("runtime.periodic_failed", job=name, error=str(exc))

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def run_stage(
    name: StageName,
    rt: Runtime,
    stop: threading.Event,
    *,
    handler: Stage | None = None,
    max_messages: int | None = None,
    stats: ConsumeStats | None = None,
    batch: int = 8,
    poll_timeout_s: float = 0.5,
) -> ConsumeStats:
    """Consume a stage's topics until ``stop`` is set (or ``max_messages`` are handled).

    Runs what the stage's spec declares: its periodic jobs and background consumers beside the
    consume loop, its batch handler when it has one; a stage built here is closed after.
    When ``stop`` is set the batch in hand is finished and committed before this returns.
    """
    spec: StageSpec = BY_NAME[name]
    stage = handler or spec.build(rt)
    helpers_stop = threading.Event()
    threads = [_every(stop, job.every_s, job.run, name=job.name) for job in stage.periodic()]
    threads.append(_every(stop, rt.settings.core.bus_maintenance_s, rt.bus.maintain, name="bus.maintain"))
    threads.extend(stage.start(helpers_stop))
    log.info("stage.start", stage=str(name), group=spec.group, bus=type(rt.bus).__name__)
    try:
        stats = rt.bus.consume(
            spec.topics,
            spec.group,
            stage.handle,
            batch_handler=stage.handle_batch if spec.batched else None,
            stop=stop,
            max_messages=max_messages,
            batch=batch,
            poll_timeout_s=poll_timeout_s,
            defer_flush=spec.defer_flush,
            stats=stats,
        )
    finally:
        helpers_stop.set()
        if handler is None:
            stage.close()  # what it started itself (hashing's decoding process)
    log.info("stage.stop", stage=str(name), handled=stats.handled, dead_lettered=stats.dead_lettered)
    for thread in threads:
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
        monitor = WorkerMonitor.for_stage(BY_NAME[name], rt.bus, rt.store, stats, worker)
        try:
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
            stage.close()
    finally:
        rt.close()
    return stats

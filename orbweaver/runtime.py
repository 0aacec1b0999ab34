"""Application wiring: opens the shared infrastructure and runs stages as bus consumers.

The same code runs every stage in threads of one process (the embedded demo) or one stage per
process (``orbweaver worker``); only the bus URL differs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import structlog

from core.blobs import BlobStore, open_blobs
from core.bus import Bus, ConsumeStats, open_bus
from core.messages import Message, Topic
from core.store import Store
from orbweaver.settings import Settings

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

STAGE_GROUPS: dict[StageName, str] = {
    StageName.HASHING: "hashing",
    StageName.MATCHING: "matcher",
    StageName.REVIEW: "review",
    StageName.NOTIFIER: "notifier",
}
"""Consumer group of each stage; each stage class's ``group`` says the same (a test checks)."""


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
    from notifier.channels import CHANNELS, OutboxChannel
    from notifier.stage import NotifierStage

    if s.notifier.channel not in CHANNELS:
        from core.errors import ConfigError

        raise ConfigError(f"unknown notice channel {s.notifier.channel!r}; known: {sorted(CHANNELS)}")
    if s.notifier.providers_file is not None:
        from notifier.providers import load_directory

        load_directory(rt.store, s.notifier.providers_file)
    channel = OutboxChannel(s.notifier.outbox_dir, s.notifier.sender, s.notifier.reply_to)
    return NotifierStage(rt.bus, rt.store, s.notifier, channel)


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
) -> ConsumeStats:
    """Consume a stage's topic until ``stop`` is set (or ``max_messages`` are handled)."""
    stage = handler or build_stage(name, rt)
    periodic: threading.Thread | None = None
    helpers: list[threading.Thread] = []
    helpers_stop = threading.Event()
    if name is StageName.NOTIFIER:
        from notifier.stage import NotifierStage

        assert isinstance(stage, NotifierStage)
        periodic = _every(stop, rt.settings.notifier.flush_every_s, stage.flush)
    if name is StageName.MATCHING:
        from matcher.stage import MatchingStage

        assert isinstance(stage, MatchingStage)
        # Every replica applies every list change from the bus while it consumes media.
        helpers = stage.follow_changes(helpers_stop)
    maintenance = _every(stop, rt.settings.core.bus_maintenance_s, rt.bus.maintain)
    log.info("stage.start", stage=str(name), group=stage.group, bus=type(rt.bus).__name__)
    try:
        stats = rt.bus.consume(STAGE_TOPICS[name], stage.group, stage.handle, stop=stop, max_messages=max_messages)
    finally:
        helpers_stop.set()
    log.info("stage.stop", stage=str(name), handled=stats.handled, dead_lettered=stats.dead_lettered)
    for thread in (periodic, maintenance, *helpers):
        if thread is not None:
            thread.join(timeout=1)
    rt.bus.maintain()
    return stats

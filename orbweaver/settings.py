"""Application settings: every service's section composed into one file (``orbweaver.toml``).

Each stage owns its section model; this is the only place that sees them all. A section's
keys are also environment variables: ``[matcher] min_pdq_quality`` is ``ORBWEAVER_MATCHER__MIN_PDQ_QUALITY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from core.settings import CoreSettings, Section, load
from crawler.settings import CrawlerSettings
from hashing.settings import HashingSettings
from matcher.settings import MatcherSettings
from notifier.channels import OutboxChannel, OutboxSettings
from notifier.settings import NotifierSettings
from orbweaver.worker_settings import WorkerSettings
from review.settings import ReviewSettings
from web.settings import WebSettings


class Settings(Section):
    """All of orbweaver's settings, one typed section per service."""

    core: CoreSettings = Field(default_factory=CoreSettings)
    crawler: CrawlerSettings = Field(default_factory=CrawlerSettings)
    hashing: HashingSettings = Field(default_factory=HashingSettings)
    matcher: MatcherSettings = Field(default_factory=MatcherSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    notifier: NotifierSettings = Field(default_factory=NotifierSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)


    @model_validator(mode="after")
    def _folders_follow_data_dir(self) -> Settings:
        # A folder setting left unset lives under data_dir, so pointing data_dir elsewhere moves
        # everything (with data_dir set, notices were once still written to ./.orbweaver/outbox).
        outbox = self.notifier.section(OutboxChannel.name, OutboxSettings)
        if "dir" not in outbox.model_fields_set:
            outbox.dir = self.core.data_dir / "outbox"
        return self

    def frontier_dir(self) -> Path:
        """Folder of the campaigns' frontiers: ``[crawler] frontier_dir``, else data_dir/frontiers."""
        return Path(self.crawler.frontier_dir) if self.crawler.frontier_dir else self.core.data_dir / "frontiers"

    def file_locations(self) -> dict[str, str]:
        """Where each kind of file goes with these settings, for ``orbweaver config show``."""
        core = self.core
        outbox = self.notifier.section(OutboxChannel.name, OutboxSettings).dir
        bounces = self.notifier.bounce_maildir
        return {
            "data_dir": str(core.data_dir.resolve()),
            "store": core.store_url(),
            "bus": core.bus_url(),
            "evidence (matched media)": core.blobs_url(),
            "notice outbox": str(outbox.resolve()),
            "crawl frontiers": str(self.frontier_dir().resolve()),
            "index snapshots": str(self.matcher.index_dir.resolve()) if self.matcher.index_dir else "(in memory only)",
            "bounce maildir": str(bounces.resolve()) if bounces else "(not read)",
        }


def load_settings(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Load and validate the settings file, environment and overrides (ConfigError on any problem)."""
    return load(Settings, path, overrides=overrides)

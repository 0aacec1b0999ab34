"""Application settings: every service's section composed into one file (``orbweaver.toml``).

Each stage owns its section model; this is the only place that sees them all. A section's
keys are also environment variables: ``[matcher] radius`` is ``ORBWEAVER_MATCHER__RADIUS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from core.settings import CoreSettings, Section, load
from crawler.settings import CrawlerSettings
from hashing.settings import HashingSettings
from matcher.settings import MatcherSettings
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


def load_settings(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Load and validate the settings file, environment and overrides (ConfigError on any problem)."""
    return load(Settings, path, overrides=overrides)

"""What every web request handler (top of the stack) works with: settings, store, bus, blobs, clock, templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from core.blobs import BlobStore
from core.bus import Bus
from core.settings import CoreSettings
from core.store import Store
from crawler.settings import CrawlerSettings
from hashing.settings import HashingSettings
from matcher.settings import MatcherSettings
from review.settings import ReviewSettings
from web.settings import WebSettings

if TYPE_CHECKING:
    from fastapi import Request
    from fastapi.templating import Jinja2Templates

    from web.auth import Accounts


class AppSettings(Protocol):
    """The sections of ``orbweaver.settings.Settings`` the web app reads (web may not import orbweaver)."""

    @property
    def core(self) -> CoreSettings:
        """Shared infrastructure."""

    @property
    def crawler(self) -> CrawlerSettings:
        """The crawler's address policy and User-Agent (URLs the Shield-compatible API fetches)."""

    @property
    def hashing(self) -> HashingSettings:
        """Decoding limits and processes (the hash-check API's uploaded media)."""

    @property
    def matcher(self) -> MatcherSettings:
        """Matching radii (the hash-check API)."""

    @property
    def review(self) -> ReviewSettings:
        """The analysts' workflow and classification scheme."""

    @property
    def web(self) -> WebSettings:
        """The web app's own settings."""


Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC; tests inject their own."""


@dataclass
class WebContext:
    """The app's shared objects, reachable from every request as ``request.app.state.ctx``."""

    settings: AppSettings
    store: Store
    bus: Bus
    blobs: BlobStore
    clock: Clock
    templates: Jinja2Templates
    accounts: Accounts
    extras: dict[str, Any] = field(default_factory=dict)
    """Room for other routers' shared objects (rate limiters, caches), keyed by their module name."""


def context(request: Request) -> WebContext:
    """The app's :class:`WebContext` (a FastAPI dependency as well as a plain function)."""
    ctx = request.app.state.ctx
    assert isinstance(ctx, WebContext)
    return ctx

"""Crawler stage items: what the spider hands to the item pipeline (pages and media fetches)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class PageItem:
    """One HTML page fetched (or not) by a campaign."""

    campaign_id: str
    url: str
    depth: int
    fetched_at: datetime
    http_status: int | None = None
    media_found: int = 0
    error: str | None = None


@dataclass(repr=False)
class MediaItem:
    """One media fetch: its response, or why there is none.

    ``body`` is set only for a 2xx response; ``error`` is set for everything else (a non-2xx
    status, a network failure, a refused address, a download over the size limit). A ``repeat``
    item is another page showing media this run already fetched: it carries the first fetch's
    outcome (``sha256`` and ``size`` for a 2xx, else its ``error``) and no body.
    """

    campaign_id: str
    page_url: str
    media_url: str
    final_url: str
    fetched_at: datetime
    http_status: int | None = None
    resolved_ip: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: str | None = None
    sha256: str | None = None
    """SHA-256 of ``body`` (or of the first fetch's, for a repeat); reports such as ``crawl --json`` read it."""
    size: int | None = None
    """Body size, for a repeat (whose body is not carried)."""
    repeat: bool = False
    """Not fetched again: the media URL was fetched earlier in this run for another page."""

    def __repr__(self) -> str:
        # Scrapy logs items it drops or fails on; media bytes must never reach a log.
        size = None if self.body is None else len(self.body)
        return (
            f"MediaItem(media_url={self.media_url!r}, page_url={self.page_url!r}, "
            f"http_status={self.http_status!r}, size={size if size is not None else self.size!r}, "
            f"error={self.error!r}, repeat={self.repeat!r})"
        )


@dataclass
class AssetItem:
    """One resource fetched only for the links it holds (a stylesheet); nothing is published."""

    campaign_id: str
    url: str
    page_url: str
    fetched_at: datetime
    http_status: int | None = None
    media_found: int = 0
    error: str | None = None

"""Crawler-owned campaign progress (first stage; the web app reads it): per-host counts and fetch problems with reasons.

The crawler writes ``pages`` and failed ``sightings``; this module is how others read what a
campaign fetched per host and why a fetch failed (a seed refused as a private address, a 404,
a corrupt image), so no reader touches the crawler's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import select

from core.store import Store
from core.store.tables.crawler import Page, Sighting

HOST_SCAN_LIMIT = 50_000
"""Newest page and media rows read per kind for the per-host table; a bigger campaign's table is of these."""


class FetchKind(StrEnum):
    """What a failed fetch was for."""

    PAGE = "page"
    MEDIA = "media"


@dataclass(frozen=True, slots=True)
class HostProgress:
    """What a campaign fetched from one host."""

    host: str
    pages: int
    page_errors: int
    media: int
    media_errors: int


@dataclass(frozen=True, slots=True)
class FetchProblem:
    """One failed fetch and why it failed, as the crawler recorded it."""

    kind: FetchKind
    url: str
    reason: str
    at: datetime


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "(no host)"
    except ValueError:
        return "(invalid URL)"


def host_progress(store: Store, campaign_id: str) -> list[HostProgress]:
    """Pages and media a campaign fetched per host, with failures, busiest host first."""
    counts: dict[str, list[int]] = {}
    with store.session() as s:
        pages = s.execute(
            select(Page.url, Page.error).where(Page.campaign_id == campaign_id)
            .order_by(Page.id.desc()).limit(HOST_SCAN_LIMIT)
        ).all()
        media = s.execute(
            select(Sighting.media_url, Sighting.error).where(Sighting.campaign_id == campaign_id)
            .order_by(Sighting.id.desc()).limit(HOST_SCAN_LIMIT)
        ).all()
    for offset, rows in ((0, pages), (2, media)):
        for url, error in rows:
            row = counts.setdefault(_host(url), [0, 0, 0, 0])
            row[offset] += 1
            row[offset + 1] += error is not None
    out = [HostProgress(host, *n) for host, n in counts.items()]
    return sorted(out, key=lambda h: (-(h.pages + h.media), h.host))


def recent_problems(store: Store, campaign_id: str, limit: int = 50) -> list[FetchProblem]:
    """A campaign's newest failed fetches (pages and media) with the crawler's reasons, newest first."""
    with store.session() as s:
        pages = s.execute(
            select(Page.url, Page.error, Page.fetched_at)
            .where(Page.campaign_id == campaign_id, Page.error.is_not(None))
            .order_by(Page.fetched_at.desc()).limit(limit)
        ).all()
        media = s.execute(
            select(Sighting.media_url, Sighting.error, Sighting.fetched_at)
            .where(Sighting.campaign_id == campaign_id, Sighting.error.is_not(None))
            .order_by(Sighting.fetched_at.desc()).limit(limit)
        ).all()
    out = [FetchProblem(FetchKind.PAGE, url, str(error), at) for url, error, at in pages]
    out += [FetchProblem(FetchKind.MEDIA, url, str(error), at) for url, error, at in media]
    out.sort(key=lambda p: p.at, reverse=True)
    return out[:limit]

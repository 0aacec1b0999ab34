"""The ``crawler`` package's tables (in the store, under every stage).

Crawl campaigns, the pages they fetched, and every media fetch (sighting).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.store.base import Base, UTCDateTime, now

OWNER = "crawler"
"""The package that owns every table of this module."""


class Campaign(Base):
    """An operator's crawl campaign."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    seeds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="created")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Campaign life (migration 0003_campaigns): see crawler/campaigns.py.
    robots_override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why this campaign does not obey robots.txt (required to override it; shown in status)."""
    run_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    """When a recurring campaign's next run is due (set when a run finishes)."""
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """The crawl holding the lease renews it; past this time its process is presumed dead."""
    lease_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped by every lease change, so a claim is a compare-and-set."""
    frontier_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    pages_fetched: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    media_fetched: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    fetch_errors: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    queued: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Requests waiting in the frontier at the last heartbeat."""
    last_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why the last run ended (finished, paused, the error of a failed run)."""
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Page(Base):
    """An HTML page a campaign fetched."""

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("campaign_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    media_found: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Sighting(Base):
    """One time a media URL was fetched from a page: recorded for every fetch, matched or not."""

    __tablename__ = "sightings"
    __table_args__ = (Index("ix_sightings_media_url", "media_url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    page_url: Mapped[str] = mapped_column(Text)
    media_url: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolved_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The response headers the crawler selected (server, via, x-cache, cf-ray...); NULL before 0007."""


class Report(Base):
    """A report of one or more URLs from the public (the /report page) or a partner (POST /v1/reports).

    Nothing here says who reported: the reporter's address is never stored (the rate limiter keeps only a keyed
    hash of it, in memory).
    """

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    """The code the reporter was given to look up the report's status."""
    source: Mapped[str] = mapped_column(String(20))
    """``public`` or ``partner`` (crawler.reports.ReportSource)."""
    where_seen: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    contact: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """A partner's own reference for the report."""
    partner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The partner account that submitted it (API reports only)."""
    language: Mapped[str] = mapped_column(String(20), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)


class ReportedUrl(Base):
    """One reported URL, normalised: however many reports name it, it is fetched and assessed once."""

    __tablename__ = "reported_urls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url_key: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the normalised URL (the URL itself may be longer than an index allows)."""
    url: Mapped[str] = mapped_column(Text)
    campaign_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    """The crawl that fetches it (a report's depth-0, high-priority campaign)."""
    first_reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ReportLink(Base):
    """Which reports named which reported URL (many to many)."""

    __tablename__ = "report_urls"

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    reported_url_id: Mapped[int] = mapped_column(ForeignKey("reported_urls.id", ondelete="CASCADE"), primary_key=True,
                                                 index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    """Order of the URL in its report, as the reporter gave it."""

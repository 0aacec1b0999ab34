"""Crawler-owned sightings (first stage; hashing and review call these): every fetch of a media URL.

The crawler owns ``sightings``: a failed fetch is recorded by its pipeline, a successful one by
the hashing stage through :func:`record_many`, and review reads them through :func:`media_refs` and
:func:`latest_headers`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.messages import MediaRef
from core.store import Store, insert_ignore, insert_ignore_many
from core.store.stats import bucket_counts, count_rows
from core.store.tables.crawler import Sighting


def record(session: Session, values: Mapping[str, Any]) -> bool:
    """Record one sighting in the caller's transaction, idempotent by its ``message_id``.

    Returns:
        True if the row is new.

    """
    return insert_ignore(session, Sighting, dict(values), ["message_id"])


def record_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Record sightings in one statement in the caller's transaction, idempotent by ``message_id``.

    Returns:
        How many rows were new.

    """
    return len(insert_ignore_many(session, Sighting, rows, ["message_id"]))


def media_refs(session: Session, sha256: str) -> list[MediaRef]:
    """Every recorded sighting of a piece of media, oldest first, as bus references."""
    rows = session.scalars(
        select(Sighting).where(Sighting.sha256 == sha256).order_by(Sighting.fetched_at, Sighting.id)
    ).all()
    return [
        MediaRef(campaign_id=s.campaign_id, page_url=s.page_url, media_url=s.media_url, final_url=s.final_url,
                 resolved_ip=s.resolved_ip, fetched_at=s.fetched_at)
        for s in rows
    ]


def media_on_pages(session: Session, page_urls: Collection[str]) -> dict[str, set[str]]:
    """The SHA-256 of every piece of media hashed on each of ``page_urls`` (a page without any is absent)."""
    found: dict[str, set[str]] = {}
    rows = session.execute(select(Sighting.page_url, Sighting.sha256)
                           .where(Sighting.page_url.in_(list(page_urls)), Sighting.sha256.is_not(None)))
    for page_url, sha256 in rows:
        if sha256 is not None:  # filtered above; the column allows None
            found.setdefault(page_url, set()).add(sha256)
    return found


def latest_headers(session: Session, sha256: str) -> dict[str, dict[str, str]]:
    """Per media URL, the response headers of its latest sighting (CDN evidence for the notifier)."""
    rows = session.execute(
        select(Sighting.media_url, Sighting.headers)
        .where(Sighting.sha256 == sha256)
        .order_by(Sighting.fetched_at, Sighting.id)
    ).all()
    latest: dict[str, dict[str, str]] = {}
    for media_url, headers in rows:
        if headers is None:
            continue  # recorded before migration 0007: no evidence either way, keep an older answer
        latest[media_url] = {str(k): str(v) for k, v in headers.items()}
    return latest


def of_campaign(session: Session, campaign_id: str) -> list[tuple[str, str | None, str | None]]:
    """``(media_url, sha256, error)`` of every sighting a campaign recorded (the demo's summary)."""
    rows = session.execute(
        select(Sighting.media_url, Sighting.sha256, Sighting.error).where(Sighting.campaign_id == campaign_id)
    ).all()
    return [(url, sha, error) for url, sha, error in rows]


def hashed_per_bucket(store: Store, start: datetime, step: timedelta, count: int) -> list[int]:
    """Sightings of hashed media per ``step`` from ``start`` (every fetch, repeats included)."""
    return bucket_counts(store, Sighting.fetched_at, start, step, count, Sighting.sha256.is_not(None))


def count_since(store: Store, since: datetime) -> int:
    """Sightings recorded since ``since``."""
    return count_rows(store, Sighting.fetched_at >= since, table=Sighting)


def latest_of(session: Session, sha256: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """A piece of media's newest sightings (at most ``limit``, newest first) and how many there are."""
    rows = session.scalars(
        select(Sighting).where(Sighting.sha256 == sha256)
        .order_by(Sighting.fetched_at.desc(), Sighting.id.desc()).limit(limit)
    ).all()
    total = session.scalar(select(func.count()).select_from(Sighting).where(Sighting.sha256 == sha256)) or 0
    return [
        {"media_url": x.media_url, "page_url": x.page_url, "final_url": x.final_url, "ip": x.resolved_ip,
         "fetched_at": x.fetched_at, "campaign_id": x.campaign_id, "http_status": x.http_status}
        for x in rows
    ], int(total)


def hashed_at_url(session: Session, url: str) -> str | None:
    """The SHA-256 of the media last fetched from ``url`` (as asked for, or where redirects ended), or None."""
    return session.scalar(
        select(Sighting.sha256)
        .where((Sighting.media_url == url) | (Sighting.final_url == url), Sighting.sha256.is_not(None))
        .order_by(Sighting.fetched_at.desc(), Sighting.id.desc())
        .limit(1)
    )

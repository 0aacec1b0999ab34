"""Hashing-owned media rows (second stage; matcher and review call these): what is known of each SHA-256.

The hashing stage owns ``media``. Others read a row's perceptual hash through :func:`pdq_of` or
:func:`pdqs`, a video's MD5 through :func:`video_md5s`, and the matcher records where it kept
evidence through :func:`set_evidence_key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.store import Store
from core.store.stats import bucket_counts, count_rows
from core.store.tables.hashing import Media


def pdq_of(session: Session, sha256: str) -> str | None:
    """The stored PDQ of a piece of media, if it has one."""
    return session.scalar(select(Media.pdq).where(Media.sha256 == sha256))


def pdqs() -> Any:
    """A subquery of ``(sha256, pdq)`` per piece of media, for another stage's query to join on."""
    return select(Media.sha256, Media.pdq).subquery("media_pdq")


def video_md5s() -> Any:
    """A subquery of ``(sha256, md5)`` per piece of video media (HMA's ``video_md5`` signal), for a join."""
    return select(Media.sha256, Media.md5).where(Media.content_type.like("video/%"), Media.md5.is_not(None)) \
        .subquery("media_video_md5")


def set_evidence_key(session: Session, sha256: str, key: str) -> None:
    """Record, in the caller's transaction, where the matcher kept a piece of media as evidence."""
    session.execute(update(Media).where(Media.sha256 == sha256).values(evidence_key=key))


def hashed_per_bucket(store: Store, start: datetime, step: timedelta, count: int) -> list[int]:
    """Distinct media first hashed per ``step`` from ``start`` (the dashboard's chart)."""
    return bucket_counts(store, Media.hashed_at, start, step, count)


def media_count(store: Store, *, since: datetime | None = None) -> int:
    """Distinct media hashed (since ``since``, or ever)."""
    return count_rows(store, *([Media.hashed_at >= since] if since is not None else []), table=Media)


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What the review pages show of a piece of media (never its bytes)."""

    sha256: str
    size: int
    content_type: str | None
    pdq: str | None


def facts(session: Session, sha256: str) -> MediaFacts | None:
    """The stored facts of a piece of media, or None if it was never hashed."""
    row = session.get(Media, sha256)
    if row is None:
        return None
    return MediaFacts(sha256=row.sha256, size=row.size, content_type=row.content_type, pdq=row.pdq)

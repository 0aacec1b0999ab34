"""Hashing-owned media rows (second stage; matcher and review call these): what is known of each SHA-256.

The hashing stage owns ``media``. Others read a row's perceptual hash through :func:`pdq_of` or
:func:`pdqs`, a video's MD5 through :func:`video_md5s`, and the matcher records where it kept
evidence through :func:`set_evidence_key`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.messages import HashValue
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


@dataclass(frozen=True, slots=True)
class StoredHashes:
    """Every stored hash of a piece of media, with its exact digests and size (never its bytes)."""

    sha256: str
    size: int
    sha1: str | None
    md5: str | None
    hashes: list[HashValue]


def stored_hashes(session: Session, sha256: str) -> StoredHashes | None:
    """The stored hashes of a piece of media, variants included, or None if it was never hashed."""
    row = session.get(Media, sha256)
    if row is None:
        return None
    return StoredHashes(sha256=row.sha256, size=row.size, sha1=row.sha1, md5=row.md5,
                        hashes=[HashValue.model_validate(h) for h in row.hashes or []])


@dataclass(frozen=True, slots=True)
class ShareableHashes:
    """The hashes of a piece of media that partners' systems can match: its PDQ, and its MD5 if it is a video."""

    sha256: str
    pdq: str | None
    video_md5: str | None


def shareable_hashes(session: Session, sha256s: Collection[str]) -> list[ShareableHashes]:
    """What the hash feed may publish of each of ``sha256s`` (media never hashed are left out)."""
    out: list[ShareableHashes] = []
    wanted = list(sha256s)
    for start in range(0, len(wanted), 500):
        rows = session.execute(select(Media.sha256, Media.pdq, Media.md5, Media.content_type)
                               .where(Media.sha256.in_(wanted[start:start + 500]))).all()
        for sha, pdq, md5, content_type in rows:
            # StopNCII's only MD5 signal is VideoMD5: an image's MD5 would never match a photo there.
            video = bool(content_type and content_type.startswith("video/"))
            out.append(ShareableHashes(sha256=sha, pdq=pdq.lower() if pdq else None,
                                       video_md5=md5.lower() if md5 and video else None))
    return out

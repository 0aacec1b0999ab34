"""The ``hashing`` package's tables (in the store, under every stage).

One row per distinct piece of media (by SHA-256) with its hashes; never its bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.store.base import Base, UTCDateTime, now

OWNER = "hashing"
"""The package that owns every table of this module."""


class Media(Base):
    """One distinct piece of media (by SHA-256) and its hashes; never its bytes."""

    __tablename__ = "media"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    sha1: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phash: Mapped[str | None] = mapped_column(String(16), nullable=True)
    hashes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Every hash as ``{algorithm, version, value, quality}`` (new algorithms need no migration)."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why perceptual hashing failed (corrupt, not an image, too large...)."""
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    hashed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    evidence_key: Mapped[str | None] = mapped_column(String(300), nullable=True)

"""The ``matcher`` package's tables (in the store, under every stage).

Known hash lists, their entries, and the matches against them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.store.base import Base, UTCDateTime, now

OWNER = "matcher"
"""The package that owns every table of this module."""


class HashSet(Base):
    """A named known hash list."""

    __tablename__ = "hash_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Change counter, bumped in the transaction of every change; matcher replicas compare it
    with the generation they applied to find missed changes (migration 0002)."""
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """Published on the hash feed (``/stopncii/v1/FetchHashes``) for partners to pull (migration 0009)."""
    org_id: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """The organisation that keeps the list (``review.orgs``); others see it only while it is shared (0012)."""


class HashEntry(Base):
    """One hash in a known list, with its label and classification."""

    __tablename__ = "hash_entries"
    __table_args__ = (UniqueConstraint("hash_set_id", "algorithm", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash_set_id: Mapped[int] = mapped_column(ForeignKey("hash_sets.id", ondelete="CASCADE"), index=True)
    algorithm: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(128))
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    classification: Mapped[str | None] = mapped_column(String(40), nullable=True)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    version: Mapped[int] = mapped_column(Integer, default=1)
    """Version of the algorithm that made ``value``; a hash of another version is never compared with it."""


class Match(Base):
    """Media that fell within a radius of a known entry."""

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("sha256", "hash_entry_id", "algorithm"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    hash_entry_id: Mapped[int] = mapped_column(ForeignKey("hash_entries.id", ondelete="CASCADE"))
    algorithm: Mapped[str] = mapped_column(String(40))
    distance: Mapped[int] = mapped_column(Integer)
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    variant: Mapped[str | None] = mapped_column(String(120), nullable=True)
    """Variant of the media whose hash matched ("" as given, "trimmed", "pdq-dihedral:rot90"...)."""

"""The ``matcher`` package's tables (in the store, under every stage).

Known hash lists, their entries, and the matches against them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, text
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
    kind: Mapped[str] = mapped_column(String(20), default="known", server_default="known")
    """A ``core.messages.HashSetKind`` value: a survivor list's hits always go to analysts (migration 0013)."""
    org_id: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """The organisation that keeps the list (``review.orgs``); others see it only while it is shared (0017)."""


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
    variant: Mapped[str] = mapped_column(String(40), default="", server_default=text("''"))
    """List-side variant ("" for a hash of the known picture itself, e.g. "crop-c10"; see
    ``hashing.list_variants``): a hash of an edit of the picture behind ``parent_id`` (migration 0015)."""
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("hash_entries.id", ondelete="CASCADE", name="fk_hash_entries_parent_id"),
        nullable=True, index=True,
    )
    """The entry (same algorithm, same list) whose picture this variant was cut from; None for parents."""


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
    list_variant: Mapped[str] = mapped_column(String(40), default="", server_default=text("''"))
    """List-side variant of the entry that the hash was close to ("" for the entry itself; the
    row's ``hash_entry_id`` is then the parent entry's) (migration 0015)."""


class SurvivorSubmission(Base):
    """One person's hashes sent from the survivor page: its reference code and optional note, never media."""

    __tablename__ = "survivor_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    """The reference code the person was given; the entries' ``source`` is ``survivor:<code>``."""
    hash_set_id: Mapped[int] = mapped_column(ForeignKey("hash_sets.id", ondelete="CASCADE"), index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    files: Mapped[int] = mapped_column(Integer)
    hashes: Mapped[int] = mapped_column(Integer)
    """Entries the submission sent (some may already have been on the list)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)


class VpdqVideo(Base):
    """A known video given as a vPDQ hash (per-frame PDQ): the frames behind one ``hash_entries`` row (migration 0016).

    The entry (algorithm ``vpdq``, value the digest of the video's hash) carries the list, label and
    classification, and is what matches and review items name; this row holds its frames.
    """

    __tablename__ = "vpdq_videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash_set_id: Mapped[int] = mapped_column(ForeignKey("hash_sets.id", ondelete="CASCADE"), index=True)
    hash_entry_id: Mapped[int] = mapped_column(ForeignKey("hash_entries.id", ondelete="CASCADE"), unique=True)
    frame_count: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class VpdqFrame(Base):
    """One frame of a known vPDQ video: its PDQ, quality and time, in the hash file's order."""

    __tablename__ = "vpdq_frames"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("vpdq_videos.id", ondelete="CASCADE"), index=True)
    frame_number: Mapped[int] = mapped_column(Integer)
    quality: Mapped[int] = mapped_column(Integer)
    pdq: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[float] = mapped_column(Float)

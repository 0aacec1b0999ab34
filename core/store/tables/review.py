"""The ``review`` package's tables (in the store, under every stage).

Review items, the decisions on them, and the allow list of benign media.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.store.base import Base, UTCDateTime, now

OWNER = "review"
"""The package that owns every table of this module."""


class ReviewKind(StrEnum):
    """Why a review item exists (values are storage keys)."""

    MATCH = "match"
    """Media that matched a known list."""
    TRIAGE = "triage"
    """Media of a reported page that matched nothing: analysts classify it (issue 16)."""


class ReviewStatus(StrEnum):
    """Where a review item stands (values are storage keys; the columns compare equal to them)."""

    PENDING = "pending"
    ESCALATED = "escalated"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    """A triage item nobody assessed within ``[review] triage_retention_days``: its media is deleted."""


class ReviewItem(Base):
    """One matched (or reported, see ``kind``) piece of media awaiting, or past, an analyst's decision."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    classification: Mapped[str | None] = mapped_column(String(40), nullable=True)
    jurisdiction: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    priority: Mapped[float] = mapped_column(default=0.0)
    best_algorithm: Mapped[str] = mapped_column(String(40))
    best_distance: Mapped[int] = mapped_column(Integer)
    best_entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    evidence_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    campaign_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the settlement's decision and notice requests were published (outbox marker)."""
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The analyst viewing the item now; others' queues skip it until ``claimed_until``."""
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    kind: Mapped[str] = mapped_column(String(20), default=ReviewKind.MATCH, server_default=ReviewKind.MATCH.value,
                                      index=True)


class ReviewDecisionRow(Base):
    """One analyst's (or an automatic rule's) decision on a review item."""

    __tablename__ = "review_decisions"
    __table_args__ = (UniqueConstraint("review_item_id", "analyst"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    analyst: Mapped[str] = mapped_column(String(200))
    classification: Mapped[str] = mapped_column(String(40))
    jurisdiction: Mapped[str | None] = mapped_column(String(20), nullable=True)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The analyst's own note on the decision (for the senior analyst, the team and themselves later)."""


class AllowEntry(Base):
    """Media an analyst judged benign (a false positive): never queued for review again."""

    __tablename__ = "allow_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id"), nullable=True)
    added_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

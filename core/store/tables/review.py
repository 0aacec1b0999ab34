"""The ``review`` package's tables (in the store, under every stage).

Review items, the decisions on them, the allow list of benign media, and the organisations
(the operator, hotlines) that review items are routed to.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, text
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


OPERATOR_ORG_ID = 1
"""The operator's own organisation, created by migration 0017: every item and user not routed elsewhere."""


class Organisation(Base):
    """An organisation that reviews in this deployment: the operator, or a hotline covering countries."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    """``review.orgs.OrgKind``: operator or hotline."""
    jurisdiction: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """ISO 3166-1 alpha-2 codes of the countries it covers (a hotline's; the operator covers the rest)."""
    opted_in: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether items hosted in its countries are routed to it (else they stay with the operator)."""
    categories: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """National categories: its own category code -> the baseline class it maps to."""
    notice_name: Mapped[str] = mapped_column(String(200))
    """The name notices go out under (X-ARF ``sender``/``reporter`` ``org``, the e-mail display name)."""
    notice_email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    notice_domain: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ItemForward(Base):
    """One organisation handing a review item to another (hosting moved, wrong jurisdiction)."""

    __tablename__ = "review_forwards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), index=True)
    from_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    to_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


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
    # No foreign key: SQLite cannot add one to a table others reference; organisations are never deleted.
    org_id: Mapped[int] = mapped_column(Integer, index=True,
                                        default=OPERATOR_ORG_ID, server_default=text(str(OPERATOR_ORG_ID)))
    """The organisation whose analysts review it (``review.orgs.route_item``); only they see it."""


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

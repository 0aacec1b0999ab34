"""The ``notifier`` package's tables (in the store, under every stage).

Providers, notices and their items, recipients, deliveries, rechecks and providers' contests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.store.base import Base, UTCDateTime, now

OWNER = "notifier"
"""The package that owns every table of this module."""


class Provider(Base):
    """A hosting provider (or CDN, or hotline) that receives notices."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="host")
    abuse_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    asns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cidrs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    domains: Mapped[list[Any]] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(40), default="email")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # notifier (0005): who hosts it, how to reach it, and what to do when it does not act.
    asn_names: Mapped[list[Any] | None] = mapped_column(JSON, default=list, nullable=True)
    """AS names as the offline IP data spells them (geoip2fast has names, not numbers); NULL on rows before 0005."""
    webhook_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict, nullable=True)
    """Notice policy: ``hotline`` ("also"/"only"/"none"), ``renotice_limit``, ``upstream``."""
    source: Mapped[str] = mapped_column(String(20), default="directory", server_default=text("'directory'"))
    """Where the record came from: directory, rdap, cdn, hotline, unresolved."""


class Notice(Base):
    """One takedown notice to one provider, listing one or more confirmed items."""

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    language: Mapped[str] = mapped_column(String(20), default="en")
    channel: Mapped[str] = mapped_column(String(40), default="email")
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    """1 for the first notice of its items, 2+ for re-notices."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # notifier (0005)
    role: Mapped[str] = mapped_column(String(20), default="host", server_default=text("'host'"))
    """Why the recipient gets it: host, cdn, hotline, upstream."""
    escalated_from: Mapped[str | None] = mapped_column(String(200), nullable=True)


class NoticeItem(Base):
    """One confirmed sighting to be taken down; batched into notices per provider."""

    __tablename__ = "notice_items"
    __table_args__ = (UniqueConstraint("review_item_id", "media_url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    notice_id: Mapped[str | None] = mapped_column(ForeignKey("notices.id"), nullable=True, index=True)
    media_url: Mapped[str] = mapped_column(Text)
    page_url: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(300))
    resolved_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    classification: Mapped[str] = mapped_column(String(40))
    evidence_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="open")
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # notifier (0005): hosting facts, and the follow-up until removal.
    country: Mapped[str | None] = mapped_column(String(2), nullable=True, index=True)
    asn_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    first_noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the first notice about it was delivered: time to removal counts from here."""
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class NoticeRecipient(Base):
    """One party that must be told about one item (host, CDN, hotline, upstream) and how often it was."""

    __tablename__ = "notice_recipients"
    __table_args__ = (UniqueConstraint("notice_item_id", "provider_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_item_id: Mapped[int] = mapped_column(ForeignKey("notice_items.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="host")
    escalated_from: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pending: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    """Waiting to be listed in this recipient's next notice."""
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    notices_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_notice_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    last_noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    removal_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """provider portal (0006): when this recipient said it removed the item (an immediate recheck was asked)."""


class NoticeEntry(Base):
    """Which items one notice listed (an item is listed again in every re-notice)."""

    __tablename__ = "notice_entries"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), primary_key=True)
    notice_item_id: Mapped[int] = mapped_column(ForeignKey("notice_items.id"), primary_key=True)


class SentJournal(Base):
    """Idempotency keys a channel has handed to a remote receiver, written the moment it accepted."""

    __tablename__ = "sent_journal"

    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class RdapAnswer(Base):
    """A cached RDAP answer (or the fact that there was none), kept for a time to live."""

    __tablename__ = "rdap_cache"

    query: Mapped[str] = mapped_column(String(300), primary_key=True)
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Delivery(Base):
    """One attempt record of sending a notice over one channel (outbox row)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Where the sent notice can be found (outbox path, SMTP message id, webhook answer)."""
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """While ``status`` is ``sending``: when the sender's claim lapses (it died) and another may retry."""
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """notifier (0005): after a transient failure, not before this time (exponential backoff)."""


class Recheck(Base):
    """One re-fetch of a reported URL and what it found."""

    __tablename__ = "rechecks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_url: Mapped[str] = mapped_column(Text, index=True)
    expected_sha256: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    observed_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class NoticeContest(Base):
    """A provider's dispute of one noticed item's classification; a senior analyst upholds or accepts it.

    While one is open the item gets no further notices (it is still rechecked); accepted, the item's
    media is reclassified as not CSAM and its notice items close as ``withdrawn``.
    """

    __tablename__ = "notice_contests"
    __table_args__ = (UniqueConstraint("notice_item_id", "provider_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_item_id: Mapped[int] = mapped_column(ForeignKey("notice_items.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    notice_id: Mapped[str] = mapped_column(String(64))
    """The notice the provider contested from (its portal page)."""
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    """open, upheld (the classification stands) or accepted (not CSAM)."""
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The senior analyst's word to the provider, if any."""

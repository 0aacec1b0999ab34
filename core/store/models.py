"""The shared schema under every stage: what was crawled, hashed, matched, decided and noticed.

Natural unique keys make every stage's writes idempotent, so a redelivered bus message can
never create a second sighting, match, review item or notice item. Changes go through Alembic
migrations in ``core/store/migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use core.messages.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return UTC-aware datetimes whatever the backend kept."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the orbweaver schema."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Campaign(Base):
    """An operator's crawl campaign."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    seeds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="created")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
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
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


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
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    hashed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    evidence_key: Mapped[str | None] = mapped_column(String(300), nullable=True)


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


class HashSet(Base):
    """A named known hash list."""

    __tablename__ = "hash_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Change counter, bumped in the transaction of every change; matcher replicas compare it
    with the generation they applied to find missed changes (migration 0002)."""


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
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
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
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    variant: Mapped[str | None] = mapped_column(String(120), nullable=True)
    """Variant of the media whose hash matched ("" as given, "trimmed", "pdq-dihedral:rot90"...)."""


class ReviewItem(Base):
    """One matched piece of media awaiting, or past, an analyst's decision."""

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the settlement's decision and notice requests were published (outbox marker)."""


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
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
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
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
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
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class RdapAnswer(Base):
    """A cached RDAP answer (or the fact that there was none), kept for a time to live."""

    __tablename__ = "rdap_cache"

    query: Mapped[str] = mapped_column(String(300), primary_key=True)
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


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
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class AuditEvent(Base):
    """Who did what, when: every view, reveal, decision, export and admin action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- web app (migration 0004_web): accounts, sessions, API tokens, login throttling, allow list ---


class WebUser(Base):
    """A person who signs in to the web app: an admin, operator, analyst, senior analyst or provider."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    """argon2id hash in PHC string format; never the password."""
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), nullable=True)
    """The one provider whose notices a ``provider`` user sees."""
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebSession(Base):
    """A signed-in browser session, kept server side; the cookie holds a secret whose SHA-256 is the id."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reveals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Review item id -> how far this session has revealed its media (0 blurred ... 3 full size)."""
    break_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the analyst last took a break (the session's start until they take one)."""


class ApiToken(Base):
    """A token for programmatic use, stored as its SHA-256; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The token's first characters, so its owner can tell tokens apart."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginFailure(Base):
    """One failed sign-in, counted per account (``user:<name>``) and per client (``ip:<address>``)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class AllowEntry(Base):
    """Media an analyst judged benign (a false positive): never queued for review again."""

    __tablename__ = "allow_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id"), nullable=True)
    added_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


# --- provider portal (migration 0006_portal): providers' contests of an item's classification ---


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The senior analyst's word to the provider, if any."""

"""The ``web`` package's tables (in the store, under every stage).

The web app's accounts, sessions, API tokens, login throttling, and the audit log of who did what.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.store.base import Base, UTCDateTime, now

OWNER = "web"
"""The package that owns every table of this module."""


class AuditEvent(Base):
    """Who did what, when: every view, reveal, decision, export and admin action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


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
    org_id: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    """The organisation the user works in (``core.store.tables.review.Organisation``; 1 is the operator's)."""
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
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


class FeedKey(Base):
    """A partner's key to one feed (the hash feed or the filtering feed), stored as its SHA-256; shown once."""

    __tablename__ = "feed_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))
    """The one feed it opens (``web.feeds.FeedName``); no other route accepts it."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FeedClock(Base):
    """One feed's modification clock: the last tick it stamped (never goes back)."""

    __tablename__ = "feed_clocks"

    feed: Mapped[str] = mapped_column(String(20), primary_key=True)
    tick: Mapped[int] = mapped_column(BigInteger, default=0)


class FeedRecord(Base):
    """One record a feed publishes (a hash, or a URL) with its status and the tick it last changed at."""

    __tablename__ = "feed_records"
    __table_args__ = (
        UniqueConstraint("feed", "kind", "value"),
        Index("ix_feed_records_feed_modified", "feed", "modified", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    """The hash feed's signal type (ImagePDQ, VideoMD5) or ``url``."""
    value: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    """``web.feeds.RecordStatus``: active, or withdrawn (the hash feed) / removed (the filtering feed)."""
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    modified: Mapped[int] = mapped_column(BigInteger)
    """The feed clock's tick (Unix seconds, or later) when the status or tags last changed."""
    first_active: Mapped[int] = mapped_column(BigInteger)
    """The tick it was first published active: a client whose checkpoint predates it never saw it."""


class LoginDevice(Base):
    """A browser that signed in to an account before (a device cookie): its own sign-in limit, apart from others'.

    Failed sign-ins by strangers — from any address, under any name — never lock out an account on a
    browser it already used: those attempts count under ``device:<id>`` only.
    """

    __tablename__ = "login_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AnalystWellbeing(Base):
    """One analyst's breaks and reveal preferences, per account (not per session: a new sign-in resets nothing)."""

    __tablename__ = "analyst_wellbeing"

    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), primary_key=True)
    break_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the analyst's last break ended (counts of items seen start here)."""
    pause_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """While in the future the analyst is on a break: items are not shown, and no key press ends it."""
    blur: Mapped[bool] = mapped_column(Boolean, default=True)
    """Show the reduced image blurred until the analyst reveals it (their preference)."""
    greyscale: Mapped[bool] = mapped_column(Boolean, default=True)
    """Show the reduced image in greyscale until the analyst reveals colour (their preference)."""

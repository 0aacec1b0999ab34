"""The store's foundation under every stage: the declarative base and column types all tables share.

Each table's model lives in the module of its one owning package under ``core/store/tables/``;
changes go through Alembic migrations in ``core/store/migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase


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


def now() -> datetime:
    """The default of every creation timestamp: now, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the orbweaver schema."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}

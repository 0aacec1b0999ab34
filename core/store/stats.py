"""Counting helpers over the store (under every stage): each owner counts its own tables with them.

They know no table: an owner passes its own columns (``hashing.media.hashed_per_bucket``), and
the web dashboard calls the owners' functions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, extract, func, literal, select
from sqlalchemy.orm import InstrumentedAttribute

from core.store import Store


def _bucket_index(store: Store, column: Any, start: datetime, step: timedelta) -> ColumnElement[Any]:
    """Which ``step``-long bucket after ``start`` a timestamp column falls in, in the store's SQL dialect."""
    if store.engine.dialect.name == "sqlite":
        # julianday keeps milliseconds (strftime('%s') rounds to the second); offsets are never negative
        # here, so casting to integer truncates like floor.
        offset = (func.julianday(column) - 2440587.5) * 86400.0 - literal(start.timestamp())
        return cast(offset / step.total_seconds(), Integer)
    offset = extract("epoch", column) - literal(start.timestamp())
    return cast(func.floor(offset / step.total_seconds()), Integer)


def bucket_counts(
    store: Store, column: InstrumentedAttribute[Any], start: datetime, step: timedelta, count: int,
    *where: ColumnElement[bool],
) -> list[int]:
    """Rows per time bucket: ``count`` buckets of ``step`` from ``start``, counted in one grouped query."""
    end = start + step * count
    index = _bucket_index(store, column, start, step)
    query = select(index, func.count()).where(column >= start, column < end, *where).group_by(index)
    counts = [0] * count
    with store.session() as s:
        for bucket, n in s.execute(query):
            if bucket is not None and 0 <= int(bucket) < count:
                counts[int(bucket)] += int(n)
    return counts


def count_rows(store: Store, *where: ColumnElement[bool], table: Any) -> int:
    """Rows of ``table`` matching ``where``."""
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def counts_by(store: Store, column: InstrumentedAttribute[str]) -> dict[str, int]:
    """Rows per value of ``column`` (a status), by value."""
    with store.session() as s:
        return {str(k): int(n) for k, n in s.execute(select(column, func.count()).group_by(column).order_by(column))}

"""Notifier stage: how long removal took, per provider and per country (what Project Arachnid publishes).

Time to removal counts from the first delivered notice about an item to the recheck that found
it gone (or changed). Items removed before any notice was delivered are counted apart, and
open items are reported with how long they have been online since their first notice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.messages import utcnow
from core.store import Store
from core.store.stats import bucket_counts, counts_by
from core.store.tables.notifier import Notice, NoticeItem, Provider
from notifier.states import CLOSED_ITEM_STATUSES, NoticeItemStatus


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class RemovalRow:
    """Removal times of one group of items (hours)."""

    group: str
    items: int
    removed: int
    removed_before_notice: int
    still_open: int
    median_hours: float | None
    p90_hours: float | None
    fastest_hours: float | None
    slowest_hours: float | None
    oldest_open_hours: float | None


def _row(group: str, items: Iterable[NoticeItem], now: datetime) -> RemovalRow:
    hours: list[float] = []
    open_hours: list[float] = []
    before = still_open = total = 0
    for item in items:
        total += 1
        if item.status in CLOSED_ITEM_STATUSES and item.removed_at is not None:
            if item.first_noticed_at is None or item.removed_at < item.first_noticed_at:
                before += 1
            else:
                hours.append((item.removed_at - item.first_noticed_at).total_seconds() / 3600)
        elif item.status == NoticeItemStatus.OPEN:
            still_open += 1
            if item.first_noticed_at is not None:
                open_hours.append((now - item.first_noticed_at).total_seconds() / 3600)
    rounded = [round(h, 2) for h in hours]

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return RemovalRow(
        group=group, items=total, removed=len(hours), removed_before_notice=before, still_open=still_open,
        median_hours=r(percentile(rounded, 50)), p90_hours=r(percentile(rounded, 90)),
        fastest_hours=r(min(hours)) if hours else None, slowest_hours=r(max(hours)) if hours else None,
        oldest_open_hours=r(max(open_hours)) if open_hours else None,
    )


def removal_report(store: Store, now: datetime | None = None) -> dict[str, list[RemovalRow]]:
    """Removal statistics per provider, per country, and over all items (key ``all``)."""
    now = now or utcnow()
    by_provider: dict[str, list[NoticeItem]] = defaultdict(list)
    by_country: dict[str, list[NoticeItem]] = defaultdict(list)
    everything: list[NoticeItem] = []
    with store.session() as s:
        rows = s.execute(select(NoticeItem, Provider.name).join(Provider, Provider.id == NoticeItem.provider_id)).all()
        for item, provider_name in rows:
            by_provider[provider_name].append(item)
            by_country[item.country or "??"].append(item)
            everything.append(item)
    return {
        "providers": [_row(name, items, now) for name, items in sorted(by_provider.items())],
        "countries": [_row(code, items, now) for code, items in sorted(by_country.items())],
        "all": [_row("all", everything, now)],
    }


def as_json(report: dict[str, list[RemovalRow]]) -> dict[str, Any]:
    """The report as plain JSON-able data."""
    return {key: [asdict(row) for row in rows] for key, rows in report.items()}


def removal_hours(store: Store) -> list[float]:
    """Hours from each closed item's first delivered notice to its removal, ascending (the dashboard's histogram)."""
    query = select(NoticeItem.first_noticed_at, NoticeItem.removed_at).where(
        NoticeItem.status.in_(CLOSED_ITEM_STATUSES), NoticeItem.removed_at.is_not(None),
        NoticeItem.first_noticed_at.is_not(None))
    with store.session() as s:
        rows = s.execute(query).all()
    # Media gone before the first notice was not removed because of it (the report counts it apart).
    return sorted((removed - first).total_seconds() / 3600 for first, removed in rows
                  if first is not None and removed is not None and removed >= first)


def sent_per_bucket(store: Store, start: datetime, step: timedelta, count: int) -> list[int]:
    """Notices sent per ``step`` from ``start``."""
    return bucket_counts(store, Notice.sent_at, start, step, count)


def notice_status_counts(store: Store) -> dict[str, int]:
    """Notices per status."""
    return counts_by(store, Notice.status)


@dataclass(frozen=True)
class NoticeProgress:
    """How far notices about some media got: first delivered notice and removal (report status and statistics)."""

    noticed: bool
    """A notice about at least one of them was delivered."""
    all_removed: bool
    """Every noticed item among them was found gone (or changed) by a recheck."""
    first_noticed_at: datetime | None
    first_removed_at: datetime | None


def notice_progress(session: Session, sha256s: Iterable[str]) -> NoticeProgress:
    """Where the notices about media with these SHA-256s stand (withdrawn items do not count)."""
    wanted = sorted(set(sha256s))
    rows = [] if not wanted else session.execute(
        select(NoticeItem.status, NoticeItem.first_noticed_at, NoticeItem.removed_at)
        .where(NoticeItem.sha256.in_(wanted), NoticeItem.first_noticed_at.is_not(None),
               NoticeItem.status != NoticeItemStatus.WITHDRAWN.value)).all()
    noticed = [first for _, first, _ in rows if first is not None]
    removed = [gone for status, _, gone in rows if status in CLOSED_ITEM_STATUSES and gone is not None]
    return NoticeProgress(noticed=bool(rows), all_removed=bool(rows) and len(removed) == len(rows),
                          first_noticed_at=min(noticed, default=None), first_removed_at=min(removed, default=None))

"""Operator dashboard (top of the stack): campaigns, pipeline throughput, queue lengths, matches and notices.

Numbers come from the store (counted in SQL, bucketed by time) and the bus (each stage group's lag);
charts are inline SVG drawn by :mod:`web.charts`. Operators and admins only.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement, Integer, cast, extract, func, literal, select
from sqlalchemy.orm import InstrumentedAttribute

from core.errors import OrbweaverError
from core.messages import Topic
from core.store import Store
from core.store.models import HashEntry, HashSet, Match, Media, Notice, NoticeItem, ReviewItem, Sighting
from hashing.stage import HashingStage
from matcher.stage import MatchingStage
from notifier.stage import NotifierStage
from review.stage import ReviewStage
from review.workflow import ESCALATED, PENDING
from web.audit import record
from web.auth import Principal, Role, requires
from web.charts import Bin, Point, bar_chart, histogram, line_chart
from web.context import WebContext, context
from web.templating import render

router = APIRouter(prefix="/dashboard", include_in_schema=False)
OPERATORS = requires(Role.OPERATOR, Role.ADMIN)
VIEW_ACTION = "dashboard.view"
RECENT_MATCHES = 15


@dataclass(frozen=True, slots=True)
class StageQueue:
    """A stage's input: the topic it consumes and its consumer group (the runtime's table says the same)."""

    stage: str
    topic: Topic
    group: str


STAGE_QUEUES = (
    StageQueue("hashing", Topic.MEDIA_FETCHED, HashingStage.group),
    StageQueue("matching", Topic.MEDIA_HASHED, MatchingStage.group),
    StageQueue("review", Topic.MATCH_CANDIDATES, ReviewStage.group),
    StageQueue("notifier", Topic.NOTICE_REQUESTS, NotifierStage.group),
)

REMOVAL_BINS = (
    Bin("< 1 h", 0, 1), Bin("1-6 h", 1, 6), Bin("6-24 h", 6, 24), Bin("1-3 d", 24, 72), Bin("3-7 d", 72, 168),
    Bin("1-4 w", 168, 672), Bin("> 4 w", 672, None),
)
"""Removal-time histogram bins, in hours after the first notice."""


# ---------------------------------------------------------------------------------------------------------------
# Counting


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


def _count(store: Store, *where: ColumnElement[bool], table: Any) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def _series(counts: Sequence[int], start: datetime, step: timedelta, fmt: str, unit: str) -> list[Point]:
    out = []
    for i, n in enumerate(counts):
        at = start + step * i
        out.append(Point(at.strftime(fmt), float(n), f"{at:%Y-%m-%d %H:%M} UTC: {n} {unit}"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# What the page shows


@dataclass(frozen=True, slots=True)
class QueueLength:
    """Messages a stage group has not finished, or why that could not be read."""

    stage: str
    topic: str
    group: str
    lag: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RecentMatch:
    """One recorded match, as operators see it (no media, no link to it)."""

    at: datetime
    algorithm: str
    distance: int
    hash_list: str
    entry_label: str | None
    classification: str | None
    sha256: str


@dataclass(frozen=True, slots=True)
class Removals:
    """How long hosts took to remove reported media after the first notice."""

    hours: list[float]
    median_h: float | None
    p90_h: float | None
    removed: int
    open_items: int


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the dashboard shows except campaigns."""

    now: datetime
    media_total: int
    media_last_hour: int
    sightings_last_hour: int
    matches_total: int
    matches_last_day: int
    queues: list[QueueLength]
    review_pending: int
    review_escalated: int
    review_by_status: dict[str, int]
    notices_by_status: dict[str, int]
    recent: list[RecentMatch]
    removals: Removals
    charts: dict[str, Any]


def queue_lengths(ctx: WebContext) -> list[QueueLength]:
    """Each stage group's lag on its input topic; a bus that cannot answer is shown, not raised."""
    out = []
    for q in STAGE_QUEUES:
        try:
            out.append(QueueLength(q.stage, str(q.topic), q.group, ctx.bus.lag(str(q.topic), q.group)))
        except OrbweaverError as exc:
            out.append(QueueLength(q.stage, str(q.topic), q.group, None, str(exc)[:200]))
    return out


def removals(store: Store) -> Removals:
    """Removal times of notice items: first notice (the notice's send time) to the recorded removal."""
    query = (
        select(NoticeItem.removed_at, Notice.sent_at)
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .where(NoticeItem.removed_at.is_not(None), Notice.sent_at.is_not(None))
    )
    with store.session() as s:
        rows = s.execute(query).all()
        open_items = int(s.scalar(select(func.count()).select_from(NoticeItem)
                                  .where(NoticeItem.removed_at.is_(None))) or 0)
    # Media gone before the notice went out was not removed because of it.
    hours = sorted((removed - sent).total_seconds() / 3600 for removed, sent in rows
                   if removed is not None and sent is not None and removed >= sent)
    p90 = statistics.quantiles(hours, n=10, method="inclusive")[-1] if len(hours) >= 2 else None
    return Removals(hours=hours, median_h=statistics.median(hours) if hours else None, p90_h=p90,
                    removed=len(hours), open_items=open_items)


def _by_status(store: Store, column: InstrumentedAttribute[str]) -> dict[str, int]:
    with store.session() as s:
        return {str(k): int(n) for k, n in s.execute(select(column, func.count()).group_by(column).order_by(column))}


def recent_matches(store: Store, limit: int = RECENT_MATCHES) -> list[RecentMatch]:
    """The newest recorded matches with their list entries."""
    query = (
        select(Match.matched_at, Match.algorithm, Match.distance, HashSet.name, HashEntry.label,
               HashEntry.classification, Match.sha256)
        .join(HashEntry, HashEntry.id == Match.hash_entry_id)
        .join(HashSet, HashSet.id == HashEntry.hash_set_id)
        .order_by(Match.matched_at.desc(), Match.id.desc())
        .limit(limit)
    )
    with store.session() as s:
        return [RecentMatch(*row) for row in s.execute(query)]


def overview(ctx: WebContext) -> Overview:
    """Collect the dashboard's numbers and draw its charts."""
    store, now = ctx.store, ctx.clock()
    minute, hour, day = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
    # Buckets end at the next whole minute/hour/day so the newest one is the one in progress.
    minute_end = now.replace(second=0, microsecond=0) + minute
    hour_end = now.replace(minute=0, second=0, microsecond=0) + hour
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + day
    hashed = bucket_counts(store, Media.hashed_at, minute_end - 60 * minute, minute, 60)
    sighted = bucket_counts(store, Sighting.fetched_at, minute_end - 60 * minute, minute, 60,
                            Sighting.sha256.is_not(None))
    matched = bucket_counts(store, Match.matched_at, hour_end - 24 * hour, hour, 24)
    notices = bucket_counts(store, Notice.sent_at, day_end - 14 * day, day, 14)
    removal = removals(store)
    review_status = _by_status(store, ReviewItem.status)
    charts = {
        "hashed": bar_chart("chart-hashed", "Media hashed per minute, last hour (distinct bodies)",
                            _series(hashed, minute_end - 60 * minute, minute, "%H:%M", "media"), unit="media/min"),
        "sighted": line_chart("chart-sighted", "Media fetched and hashed per minute, last hour (every sighting)",
                              _series(sighted, minute_end - 60 * minute, minute, "%H:%M", "sightings"),
                              unit="sightings/min"),
        "matched": bar_chart("chart-matched", "Matches per hour, last 24 hours",
                             _series(matched, hour_end - 24 * hour, hour, "%H:00", "matches"), unit="matches/h"),
        "notices": bar_chart("chart-notices", "Notices sent per day, last 14 days",
                             _series(notices, day_end - 14 * day, day, "%m-%d", "notices"), unit="notices/day"),
        "removal": histogram("chart-removal", "Time from first notice to removal", removal.hours, REMOVAL_BINS,
                             unit="items"),
    }
    return Overview(
        now=now,
        media_total=_count(store, table=Media),
        media_last_hour=_count(store, Media.hashed_at >= now - hour, table=Media),
        sightings_last_hour=_count(store, Sighting.fetched_at >= now - hour, table=Sighting),
        matches_total=_count(store, table=Match),
        matches_last_day=_count(store, Match.matched_at >= now - day, table=Match),
        queues=queue_lengths(ctx),
        review_pending=review_status.get(PENDING, 0),
        review_escalated=review_status.get(ESCALATED, 0),
        review_by_status=review_status,
        notices_by_status=_by_status(store, Notice.status),
        recent=recent_matches(store),
        removals=removal,
        charts=charts,
    )


# ---------------------------------------------------------------------------------------------------------------
# Routes


@router.get("", response_class=HTMLResponse)
def dashboard_page(request: Request, principal: Annotated[Principal, Depends(OPERATORS)]) -> Response:
    """The operator dashboard."""
    ctx = context(request)
    data = overview(ctx)
    record(ctx.store, principal.name, VIEW_ACTION, None, at=ctx.clock())
    return render(request, "dashboard.html", principal, title="Dashboard", data=data, message=None, error=None)

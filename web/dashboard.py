"""Operator dashboard (top of the stack): campaigns, pipeline throughput, queue lengths, matches and notices.

Numbers come from the store (counted in SQL, bucketed by time) and the bus (each stage group's lag);
charts are inline SVG drawn by :mod:`web.charts`. Operators and admins only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from core.errors import ConfigError, OrbweaverError
from core.messages import Topic
from core.store import Store
from crawler import sightings
from crawler.campaigns import (
    ACTIVE_STATES,
    RESUMABLE_STATES,
    STARTABLE_STATES,
    CampaignError,
    CampaignLimits,
    CampaignRecord,
    Campaigns,
    CampaignState,
    RateLimits,
    parse_spec,
)
from crawler.progress import FetchProblem, HostProgress, host_progress, recent_problems
from hashing.media import hashed_per_bucket, media_count
from hashing.stage import SPEC as HASHING
from matcher.hashsets import latest_matches, match_count, matched_media_count, matches_per_bucket
from matcher.stage import SPEC as MATCHER
from notifier.report import RemovalRow, notice_status_counts, removal_hours, removal_report, sent_per_bucket
from notifier.stage import SPEC as NOTIFIER
from review.service import status_counts
from review.stage import SPEC as REVIEW
from review.workflow import ESCALATED, PENDING
from web.audit import record
from web.auth import Principal, Role, requires
from web.charts import Bin, Point, bar_chart, histogram, line_chart
from web.context import WebContext, context
from web.templating import render
from web.words import counted

router = APIRouter(prefix="/dashboard", include_in_schema=False)
OPERATORS = requires(Role.OPERATOR, Role.ADMIN)
VIEW_ACTION = "dashboard.view"
RECENT_MATCHES = 15


@dataclass(frozen=True, slots=True)
class StageQueue:
    """A stage's input: the main topic it consumes and its consumer group, as its spec declares."""

    stage: str
    topic: Topic
    group: str


# The registry (orbweaver/stages.py) sits above web, so the dashboard names its stages' specs
# itself; a test proves they are the registry's worker stages.
STAGE_QUEUES = tuple(
    StageQueue(str(spec.name), spec.main_topic, spec.group) for spec in (HASHING, MATCHER, REVIEW, NOTIFIER)
)

REMOVAL_BINS = (
    Bin("< 1 h", 0, 1), Bin("1-6 h", 1, 6), Bin("6-24 h", 6, 24), Bin("1-3 d", 24, 72), Bin("3-7 d", 72, 168),
    Bin("1-4 w", 168, 672), Bin("> 4 w", 672, None),
)
"""Removal-time histogram bins, in hours after the first notice."""


# ---------------------------------------------------------------------------------------------------------------
# Counting


def _series(counts: Sequence[int], start: datetime, step: timedelta, fmt: str, one: str) -> list[Point]:
    out = []
    for i, n in enumerate(counts):
        at = start + step * i
        out.append(Point(at.strftime(fmt), float(n), f"{at:%Y-%m-%d %H:%M} UTC: {counted(n, one)}"))
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
    """How long hosts took to remove reported media after the first notice (the notifier's removal report)."""

    hours: list[float]
    """Each removed item's time from first notice to removal, for the histogram."""
    overall: RemovalRow
    providers: list[RemovalRow]


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the dashboard shows except campaigns."""

    now: datetime
    media_total: int
    media_last_hour: int
    sightings_last_hour: int
    matches_total: int
    matches_last_day: int
    matched_media_total: int
    matched_media_last_day: int
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


def removals(store: Store, now: datetime) -> Removals:
    """Removal times as ``orbweaver report removal`` counts them: first delivered notice to the removal found."""
    report = removal_report(store, now)
    return Removals(hours=removal_hours(store), overall=report["all"][0], providers=report["providers"])


def recent_matches(store: Store, limit: int = RECENT_MATCHES) -> list[RecentMatch]:
    """The newest recorded matches with their list entries."""
    return [RecentMatch(*row) for row in latest_matches(store, limit)]


def overview(ctx: WebContext) -> Overview:
    """Collect the dashboard's numbers and draw its charts."""
    store, now = ctx.store, ctx.clock()
    minute, hour, day = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
    # Buckets end at the next whole minute/hour/day so the newest one is the one in progress.
    minute_end = now.replace(second=0, microsecond=0) + minute
    hour_end = now.replace(minute=0, second=0, microsecond=0) + hour
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + day
    hashed = hashed_per_bucket(store, minute_end - 60 * minute, minute, 60)
    sighted = sightings.hashed_per_bucket(store, minute_end - 60 * minute, minute, 60)
    matched = matches_per_bucket(store, hour_end - 24 * hour, hour, 24)
    notices = sent_per_bucket(store, day_end - 14 * day, day, 14)
    removal = removals(store, now)
    review_status = status_counts(store)
    charts = {
        "hashed": bar_chart("chart-hashed", "Media hashed per minute, last hour (distinct bodies)",
                            _series(hashed, minute_end - 60 * minute, minute, "%H:%M", "media"), unit="media/min"),
        "sighted": line_chart("chart-sighted", "Media fetched and hashed per minute, last hour (every sighting)",
                              _series(sighted, minute_end - 60 * minute, minute, "%H:%M", "sighting"),
                              unit="sightings/min"),
        "matched": bar_chart("chart-matched", "Matches per hour, last 24 hours",
                             _series(matched, hour_end - 24 * hour, hour, "%H:00", "match"), unit="matches/h"),
        "notices": bar_chart("chart-notices", "Notices sent per day, last 14 days",
                             _series(notices, day_end - 14 * day, day, "%m-%d", "notice"), unit="notices/day"),
        "removal": histogram("chart-removal", "Time from first notice to removal", removal.hours, REMOVAL_BINS,
                             unit="items"),
    }
    return Overview(
        now=now,
        media_total=media_count(store),
        media_last_hour=media_count(store, since=now - hour),
        sightings_last_hour=sightings.count_since(store, now - hour),
        matches_total=match_count(store),
        matches_last_day=match_count(store, since=now - day),
        matched_media_total=matched_media_count(store),
        matched_media_last_day=matched_media_count(store, since=now - day),
        queues=queue_lengths(ctx),
        review_pending=review_status.get(PENDING, 0),
        review_escalated=review_status.get(ESCALATED, 0),
        review_by_status=review_status,
        notices_by_status=notice_status_counts(store),
        recent=recent_matches(store),
        removals=removal,
        charts=charts,
    )


# ---------------------------------------------------------------------------------------------------------------
# Campaigns


CAMPAIGN_AUDIT = "campaign."
"""Audit actions of campaign changes: ``campaign.create``, ``campaign.start``, ..."""


class CampaignAction(StrEnum):
    """What an operator can do to a campaign here; values are URL parts and audit action suffixes."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"

    @property
    def past(self) -> str:
        """The verb's past participle, spelled out (English does not build it by appending "ed")."""
        return _PAST[self]


_PAST = {CampaignAction.START: "started", CampaignAction.PAUSE: "paused", CampaignAction.RESUME: "resumed",
         CampaignAction.STOP: "stopped"}


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """One campaign as listed: its record, whether its crawler died, and the actions offered."""

    record: CampaignRecord
    crashed: bool
    actions: list[CampaignAction]


def _crashed(record: CampaignRecord, now: datetime) -> bool:
    return record.state in ACTIVE_STATES and not record.lease_live(now)


def offered_actions(record: CampaignRecord, now: datetime) -> list[CampaignAction]:
    """The buttons a campaign gets (the state functions still decide; a stale page gets a clear refusal)."""
    state, crashed = record.state, _crashed(record, now)
    out = []
    if state in (CampaignState.CREATED, CampaignState.FINISHED, CampaignState.STOPPED):
        out.append(CampaignAction.START)
    if state in (CampaignState.PAUSED, CampaignState.FAILED) or crashed:
        out.append(CampaignAction.RESUME)
    if state in (CampaignState.RUNNING, CampaignState.QUEUED) and not crashed:
        out.append(CampaignAction.PAUSE)
    if state not in (CampaignState.STOPPED, CampaignState.FINISHED, CampaignState.STOPPING):
        out.append(CampaignAction.STOP)
    return out


def campaign_rows(campaigns: Campaigns) -> list[CampaignRow]:
    """Every campaign, newest first, with its progress and actions."""
    now = campaigns.clock()
    return [CampaignRow(r, _crashed(r, now), offered_actions(r, now)) for r in campaigns.list_all()]


def apply_action(campaigns: Campaigns, campaign_id: str, action: CampaignAction) -> CampaignState:
    """Change a campaign's state the way ``orbweaver campaign start|resume --detach|pause|stop`` does.

    Start and resume hand the campaign to the crawler workers (the web app never crawls itself).

    Raises:
        CampaignError: If there is no such campaign or its state does not allow the action.

    """
    if action is CampaignAction.PAUSE:
        return campaigns.pause(campaign_id)
    if action is CampaignAction.STOP:
        return campaigns.stop(campaign_id)
    record = campaigns.get(campaign_id)
    states = STARTABLE_STATES if action is CampaignAction.START else RESUMABLE_STATES
    if record.state not in states and not _crashed(record, campaigns.clock()):
        raise CampaignError(f"campaign {campaign_id} is {record.state.value}; it cannot be {action.past} "
                            "from that state")
    return campaigns.queue(campaign_id)


def _lines(form: Mapping[str, str], key: str) -> list[str]:
    return [line.strip() for line in form.get(key, "").splitlines() if line.strip()]


def _number(form: Mapping[str, str], key: str) -> str | None:
    value = form.get(key, "").strip()
    return value or None


def spec_data(form: Mapping[str, str]) -> dict[str, Any]:
    """The campaign form as :class:`~crawler.campaigns.CampaignSpec` data (blank optional fields left out).

    Every value is validated by :func:`crawler.campaigns.parse_spec`, exactly as for the command line.
    """
    limits = {k: _number(form, k) for k in ("max_depth", "max_pages", "max_media", "max_pages_per_host")}
    rate: dict[str, Any] = {k: _number(form, k) for k in
                            ("concurrent_requests_per_host", "concurrent_requests", "download_delay_s")}
    rate["autothrottle"] = form.get("autothrottle") == "on"
    obey = form.get("robots_obey") == "on"
    reason = form.get("robots_reason", "").strip()
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "seeds": _lines(form, "seeds"),
        "operator": form.get("operator", "").strip(),
        "contact_url": form.get("contact_url", "").strip(),
        "scope": {"mode": form.get("scope_mode", "host"), "domains": _lines(form, "domains"),
                  "include": _lines(form, "include"), "exclude": _lines(form, "exclude")},
        "limits": {k: v for k, v in limits.items() if v is not None},
        "rate": {k: v for k, v in rate.items() if v is not None},
        "robots": {"obey": obey, **({"override_reason": reason} if reason else {})},
        "render": form.get("render") == "on",
    }
    if (proxy := form.get("proxy", "").strip()):
        data["proxy"] = proxy
    if (hours := _number(form, "recurrence_hours")) is not None:
        data["recurrence_hours"] = hours
    return data


FORM_FIELDS = ("name", "seeds", "scope_mode", "domains", "include", "exclude", "max_depth", "max_pages", "max_media",
               "max_pages_per_host", "concurrent_requests_per_host", "concurrent_requests", "download_delay_s",
               "autothrottle", "robots_obey", "robots_reason", "operator", "contact_url", "proxy", "render",
               "recurrence_hours", "start")


def blank_form() -> dict[str, Any]:
    """The new-campaign form with the spec's defaults."""
    limits, rate = CampaignLimits(), RateLimits()
    return {"name": "", "seeds": "", "scope_mode": "host", "domains": "", "include": "", "exclude": "",
            "max_depth": limits.max_depth, "max_pages": limits.max_pages, "max_media": limits.max_media or "",
            "max_pages_per_host": limits.max_pages_per_host or "",
            "concurrent_requests_per_host": rate.concurrent_requests_per_host,
            "concurrent_requests": rate.concurrent_requests, "download_delay_s": rate.download_delay_s,
            "autothrottle": rate.autothrottle, "robots_obey": True, "robots_reason": "", "operator": "",
            "contact_url": "", "proxy": "", "render": False, "recurrence_hours": "", "start": False}


def _form_values(form: Mapping[str, str]) -> dict[str, Any]:
    checkboxes = {"autothrottle", "robots_obey", "render", "start"}
    return {k: (form.get(k) == "on") if k in checkboxes else form.get(k, "") for k in FORM_FIELDS}


# ---------------------------------------------------------------------------------------------------------------
# Routes


def _campaigns(ctx: WebContext) -> Campaigns:
    return Campaigns(ctx.store, ctx.clock)


def _page(request: Request, principal: Principal, *, status_code: int = 200, message: str | None = None,
          error: str | None = None) -> Response:
    ctx = context(request)
    data = overview(ctx)
    rows = campaign_rows(_campaigns(ctx))
    return render(request, "dashboard.html", principal, status_code=status_code, title="Dashboard", data=data,
                  campaigns=rows, message=message, error=error)


@router.get("", response_class=HTMLResponse)
def dashboard_page(
    request: Request, principal: Annotated[Principal, Depends(OPERATORS)], changed: str = ""
) -> Response:
    """The operator dashboard; ``changed`` names a campaign whose new state to announce."""
    ctx = context(request)
    message = None
    if changed:
        try:
            found = _campaigns(ctx).get(changed[:64])
            message = f"Campaign {found.spec.name} ({found.id}) is now {found.state.value}."
        except CampaignError:
            message = None
    record(ctx.store, principal.name, VIEW_ACTION, None, at=ctx.clock())
    return _page(request, principal, message=message)


@router.get("/campaigns/new", response_class=HTMLResponse)
def new_campaign_form(request: Request, principal: Annotated[Principal, Depends(OPERATORS)]) -> Response:
    """The form for a new campaign, with the spec's defaults."""
    return render(request, "dashboard_campaign_new.html", principal, title="New campaign", form=blank_form(),
                  error=None)


@dataclass(frozen=True, slots=True)
class CampaignDetail:
    """One campaign as its page shows it: the record, its actions, per-host progress and its failed fetches."""

    row: CampaignRow
    hosts: list[HostProgress]
    problems: list[FetchProblem]

    def to_json(self, now: datetime) -> dict[str, Any]:
        """What the page polls to update itself: counters, state, hosts and problems (no media, no spec)."""
        r = self.row.record
        return {
            "id": r.id, "state": r.state.value, "crashed": self.row.crashed, "last_reason": r.last_reason,
            "pages_fetched": r.pages_fetched, "media_fetched": r.media_fetched, "fetch_errors": r.fetch_errors,
            "queued": r.queued, "run_count": r.run_count, "as_of": now.isoformat(),
            "actions": [a.value for a in self.row.actions],
            "hosts": [{"host": h.host, "pages": h.pages, "page_errors": h.page_errors, "media": h.media,
                       "media_errors": h.media_errors} for h in self.hosts],
            "problems": [{"kind": p.kind.value, "url": p.url, "reason": p.reason, "at": p.at.isoformat()}
                         for p in self.problems],
        }


def campaign_detail(ctx: WebContext, campaign_id: str) -> CampaignDetail:
    """Read one campaign with its progress.

    Raises:
        CampaignError: If there is no such campaign.

    """
    campaigns = _campaigns(ctx)
    record_ = campaigns.get(campaign_id[:64])
    now = campaigns.clock()
    row = CampaignRow(record_, _crashed(record_, now), offered_actions(record_, now))
    return CampaignDetail(row, host_progress(ctx.store, record_.id), recent_problems(ctx.store, record_.id))


def _detail_or_404(ctx: WebContext, campaign_id: str) -> CampaignDetail:
    try:
        return campaign_detail(ctx, campaign_id)
    except CampaignError as exc:
        raise HTTPException(status_code=404, detail=f"no campaign {campaign_id[:64]!r}") from exc


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: str, principal: Annotated[Principal, Depends(OPERATORS)]) -> Response:
    """One campaign: seeds, scope, limits, per-host progress and failed fetches with reasons; refreshes itself."""
    ctx = context(request)
    detail = _detail_or_404(ctx, campaign_id)
    return render(request, "dashboard_campaign.html", principal, title=f"Campaign {detail.row.record.spec.name}",
                  c=detail.row, detail=detail, now=ctx.clock())


@router.get("/campaigns/{campaign_id}/progress")
def campaign_progress(
    request: Request, campaign_id: str, principal: Annotated[Principal, Depends(OPERATORS)]
) -> JSONResponse:
    """The campaign page's live numbers as JSON, polled by ``campaign.js`` (and usable by scripts)."""
    ctx = context(request)
    return JSONResponse(_detail_or_404(ctx, campaign_id).to_json(ctx.clock()),
                        headers={"Cache-Control": "no-store"})


@router.post("/campaigns")
async def create_campaign(request: Request, principal: Annotated[Principal, Depends(OPERATORS)]) -> Response:
    """Validate and store a campaign (as ``orbweaver campaign create``), queued at once if asked; audited."""
    ctx = context(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        spec = parse_spec(spec_data(form))
    except ConfigError as exc:
        return render(request, "dashboard_campaign_new.html", principal, status_code=422, title="New campaign",
                      form=_form_values(form), error=str(exc))
    start = form.get("start") == "on"

    def create() -> CampaignRecord:
        created = _campaigns(ctx).create(spec, queued=start)
        record(ctx.store, principal.name, CAMPAIGN_AUDIT + "create", f"campaign:{created.id}", at=ctx.clock(),
               name=spec.name, seeds=len(spec.seeds), queued=start, robots_obeyed=spec.robots.obey,
               robots_override_reason=spec.robots.override_reason)
        return created

    created = await run_in_threadpool(create)
    return RedirectResponse(f"/dashboard?changed={quote(created.id)}#campaigns", status_code=303)


@router.post("/campaigns/{campaign_id}/{action}")
def campaign_action(
    request: Request, campaign_id: str, action: CampaignAction, principal: Annotated[Principal, Depends(OPERATORS)]
) -> Response:
    """Start, pause, resume or stop a campaign through the same state functions as the command line; audited."""
    ctx = context(request)
    subject = f"campaign:{campaign_id[:64]}"
    try:
        state = apply_action(_campaigns(ctx), campaign_id, action)
    except CampaignError as exc:
        record(ctx.store, principal.name, CAMPAIGN_AUDIT + action.value, subject, at=ctx.clock(), outcome="refused",
               reason=str(exc)[:300])
        return _page(request, principal, status_code=409, error=str(exc))
    record(ctx.store, principal.name, CAMPAIGN_AUDIT + action.value, subject, at=ctx.clock(), outcome="done",
           state=state.value)
    return RedirectResponse(f"/dashboard?changed={quote(campaign_id)}#campaigns", status_code=303)

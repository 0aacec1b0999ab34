"""Crawler stage campaigns: what an operator asks to crawl, and its life in the store.

A :class:`CampaignSpec` is validated once, when the campaign is created, and stored as JSON in
``campaigns.config``; everything a crawl of it needs derives from it. The campaign's state,
lease, counters and next scheduled run are columns of the same row, so any process (the CLI, a
crawler worker on another machine) can pause, stop, resume or take over a campaign by writing
the store. Leases are compare-and-set on ``lease_version``, so two workers never run one
campaign at once. Scrapy is not needed here: the CLI creates and lists campaigns without it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.errors import ConfigError, OrbweaverError
from core.messages import FetchOrigin, utcnow
from core.store import Store
from core.store.tables.crawler import Campaign, Page
from crawler.safety import PROXY_SCHEMES, AllowList, proxy_refusal
from crawler.scope import Scope
from crawler.settings import CrawlerSettings

Clock = Callable[[], datetime]
"""Where campaign code reads the time; tests inject a fake one."""

USER_AGENT_PRODUCT = "orbweaver/0.1"
"""Product token of every user agent (robots.txt groups are matched on ``orbweaver``)."""



class CampaignState(StrEnum):
    """Where a campaign is in its life; values are storage keys (``campaigns.status``)."""

    CREATED = "created"
    QUEUED = "queued"
    """Waiting for a crawler worker."""
    RUNNING = "running"
    PAUSING = "pausing"
    """Asked to pause; the running crawl finishes its in-flight requests, then pauses."""
    PAUSED = "paused"
    STOPPING = "stopping"
    """Asked to stop; the running crawl finishes its in-flight requests and drops its queue."""
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"


ACTIVE_STATES = frozenset({CampaignState.RUNNING, CampaignState.PAUSING, CampaignState.STOPPING})
"""States in which some process holds (or held, if it died) the campaign's lease."""

STARTABLE_STATES = frozenset(
    {
        CampaignState.CREATED,
        CampaignState.QUEUED,
        CampaignState.PAUSED,
        CampaignState.FAILED,
        CampaignState.FINISHED,
        CampaignState.STOPPED,
    }
)
"""States a campaign may be started from (queued for a worker or crawled in the foreground)."""

RESUMABLE_STATES = frozenset({CampaignState.PAUSED, CampaignState.FAILED, CampaignState.QUEUED})
"""States ``resume`` accepts, from the command line and the dashboard: it continues a saved queue."""


class CampaignError(OrbweaverError):
    """A campaign command that cannot be carried out (unknown id, wrong state, bad seeds file)."""


def _check_http_url(url: str, what: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"{what} {url!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} {url!r} must be an absolute http(s) URL")
    return url


class CampaignLimits(BaseModel):
    """How far a campaign goes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_depth: int = Field(default=3, ge=0, description="Link hops followed from a seed (0: the seeds only).")
    max_pages: int = Field(default=1000, ge=1, description="Most pages fetched in one run.")
    max_media: int | None = Field(default=None, ge=1, description="Most media fetches in one run (none: no cap).")
    max_pages_per_host: int | None = Field(default=None, ge=1, description="Most pages fetched from one host.")


class RateLimits(BaseModel):
    """How hard a campaign may press on each host."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrent_requests_per_host: int = Field(default=2, ge=1, description="Parallel requests to one host.")
    concurrent_requests: int = Field(default=16, ge=1, description="Parallel requests in all.")
    download_delay_s: float = Field(default=0.5, ge=0, description="Least delay between requests to one host.")
    autothrottle: bool = Field(default=True, description="Adapt the delay per host to its response times.")


class RobotsPolicy(BaseModel):
    """Whether robots.txt is obeyed; not obeying it must say why (the reason is kept and shown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    obey: bool = True
    override_reason: str | None = Field(
        default=None, description="Why robots.txt is not obeyed; required when obey is false."
    )

    @model_validator(mode="after")
    def _reason_goes_with_override(self) -> Self:
        reason = (self.override_reason or "").strip()
        if not self.obey and not reason:
            raise ValueError("a robots.txt override needs a reason (robots.override_reason), which is recorded")
        if self.obey and reason:
            raise ValueError("robots.override_reason is only for campaigns that do not obey robots.txt")
        return self


class CampaignSpec(BaseModel):
    """Everything an operator decides about a campaign; validated, stored, never partly applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    seeds: list[str] = Field(min_length=1, description="Start URLs (absolute http(s)).")
    operator: str = Field(min_length=1, max_length=120, description="Who runs the crawl; named in the user agent.")
    contact_url: str = Field(description="Where a site operator reads who crawls and why; in the user agent.")
    scope: Scope = Field(default_factory=Scope)
    limits: CampaignLimits = Field(default_factory=CampaignLimits)
    rate: RateLimits = Field(default_factory=RateLimits)
    robots: RobotsPolicy = Field(default_factory=RobotsPolicy)
    proxy: str | None = Field(
        default=None,
        description=(
            "http://, https://, socks5:// or socks5h:// proxy URL. A proxy at a non-public address must be "
            "listed in this campaign's allow_private_hosts."
        ),
    )
    render: bool = Field(default=False, description="Render pages in headless Chromium before extraction.")
    recurrence_hours: float | None = Field(
        default=None, gt=0, description="Crawl again this many hours after each run finishes."
    )
    allow_private_hosts: list[str] = Field(
        default_factory=list, description="Hosts or addresses fetched although they are not public (labs, tests)."
    )
    origin: FetchOrigin = Field(
        default=FetchOrigin.CAMPAIGN, description="Why it is crawled: an operator's campaign or a report's URLs."
    )

    @field_validator("seeds")
    @classmethod
    def _valid_seeds(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_check_http_url(s, "seed") for s in value))

    @field_validator("contact_url")
    @classmethod
    def _valid_contact(cls, value: str) -> str:
        return _check_http_url(value, "contact_url")

    @field_validator("operator")
    @classmethod
    def _header_safe(cls, value: str) -> str:
        value = value.strip()
        if not value or not value.isprintable() or any(c in value for c in "();"):
            raise ValueError("operator must be a printable name without ( ) or ; (it goes in the User-Agent header)")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise ValueError("operator must be Latin-1 text (it goes in the User-Agent header)") from exc
        return value

    @field_validator("proxy")
    @classmethod
    def _valid_proxy(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            parts = urlsplit(value.strip())
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"proxy {value!r} is not a valid URL: {exc}") from exc
        if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
            raise ValueError(f"proxy must be a URL with scheme {', '.join(PROXY_SCHEMES)}, e.g. http://proxy:3128")
        if parts.scheme.startswith("socks") and port is None:
            raise ValueError("a SOCKS proxy URL needs a port, e.g. socks5h://127.0.0.1:1080")
        return value.strip()

    @model_validator(mode="after")
    def _proxy_address_allowed(self) -> Self:
        # Checked again when the crawl connects, against the crawl's whole allow list.
        if self.proxy is not None:
            reason = proxy_refusal(self.proxy, AllowList.parse(self.allow_private_hosts))
            if reason is not None:
                raise ValueError(reason)
        return self

    @model_validator(mode="after")
    def _seeds_in_scope(self) -> Self:
        rule = self.scope.rule(self.seeds)
        for seed in self.seeds:
            reason = rule.refusal(seed)
            if reason is not None:
                raise ValueError(f"seed {seed} is {reason}")
        return self

    @property
    def user_agent(self) -> str:
        """The User-Agent header: product, contact URL and operator, honestly."""
        return f"{USER_AGENT_PRODUCT} (+{self.contact_url}; operator: {self.operator})"

    def crawler_settings(self, base: CrawlerSettings) -> CrawlerSettings:
        """The crawler settings of a run: the service's timeouts and size caps, this campaign's rest.

        Args:
            base: The service's ``[crawler]`` settings.

        Returns:
            Settings for :class:`crawler.run.CrawlJob`.

        """
        return base.model_copy(
            update={
                "user_agent": self.user_agent,
                "contact_url": self.contact_url,
                "max_depth": self.limits.max_depth,
                "max_pages": self.limits.max_pages,
                "concurrent_requests_per_host": self.rate.concurrent_requests_per_host,
                "download_delay_s": self.rate.download_delay_s,
                "autothrottle": self.rate.autothrottle,
                "obey_robots": self.robots.obey,
                "allow_private_hosts": list(dict.fromkeys([*base.allow_private_hosts, *self.allow_private_hosts])),
            }
        )


def describe_spec_error(exc: ValidationError) -> str:
    """One readable line per problem of a rejected spec (unknown keys named as such)."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "spec"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key {where!r}")
        else:
            problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def parse_spec(data: dict[str, Any]) -> CampaignSpec:
    """Validate a spec from plain data (a file, CLI flags).

    Raises:
        ConfigError: Naming every problem, unknown keys included.

    """
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid campaign: {describe_spec_error(exc)}") from exc


def read_seeds_file(path: Path) -> list[str]:
    """Read seed URLs, one per line; blank lines and ``#`` comments are skipped.

    Raises:
        CampaignError: If the file cannot be read, or naming each bad line with its number.

    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"cannot read seeds file {path}: {exc}") from exc
    seeds: list[str] = []
    bad: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            seeds.append(_check_http_url(line, "seed"))
        except ValueError as exc:
            bad.append(f"{path}:{number}: {exc}")
    if bad:
        more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
        raise CampaignError("bad seeds file: " + "; ".join(bad[:10]) + more)
    if not seeds:
        raise CampaignError(f"seeds file {path} lists no URL")
    return seeds


@dataclass(frozen=True)
class CampaignRecord:
    """A snapshot of one campaign row with its parsed spec."""

    id: str
    spec: CampaignSpec
    state: CampaignState
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    run_count: int
    next_run_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    lease_version: int
    frontier_path: str | None
    pages_fetched: int
    media_fetched: int
    fetch_errors: int
    queued: int
    last_reason: str | None
    robots_override_reason: str | None

    @classmethod
    def from_row(cls, row: Campaign) -> CampaignRecord:
        """Snapshot a row.

        Raises:
            CampaignError: If the row's stored spec no longer validates.

        """
        try:
            spec = CampaignSpec.model_validate(row.config)
        except ValidationError as exc:
            raise CampaignError(f"campaign {row.id} has an invalid stored spec: {describe_spec_error(exc)}") from exc
        return cls(
            id=row.id,
            spec=spec,
            state=CampaignState(row.status),
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            run_count=row.run_count,
            next_run_at=row.next_run_at,
            lease_owner=row.lease_owner,
            lease_expires_at=row.lease_expires_at,
            lease_version=row.lease_version,
            frontier_path=row.frontier_path,
            pages_fetched=row.pages_fetched,
            media_fetched=row.media_fetched,
            fetch_errors=row.fetch_errors,
            queued=row.queued,
            last_reason=row.last_reason,
            robots_override_reason=row.robots_override_reason,
        )

    def lease_live(self, now: datetime) -> bool:
        """Whether a process holds the lease right now (it renews it while it crawls)."""
        return self.lease_expires_at is not None and self.lease_expires_at > now

    def to_json(self, now: datetime) -> dict[str, Any]:
        """A JSON-ready view for ``campaign status --json`` and ``list --json``."""
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "id": self.id,
            "name": self.spec.name,
            "state": self.state.value,
            "crashed": self.state in ACTIVE_STATES and not self.lease_live(now),
            "seeds": len(self.spec.seeds),
            "pages_fetched": self.pages_fetched,
            "media_fetched": self.media_fetched,
            "fetch_errors": self.fetch_errors,
            "queued": self.queued,
            "run_count": self.run_count,
            "robots": "obeyed" if self.spec.robots.obey else "ignored",
            "robots_override_reason": self.robots_override_reason,
            "user_agent": self.spec.user_agent,
            "proxy": self.spec.proxy,
            "render": self.spec.render,
            "recurrence_hours": self.spec.recurrence_hours,
            "next_run_at": iso(self.next_run_at),
            "lease_owner": self.lease_owner,
            "lease_expires_at": iso(self.lease_expires_at),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "last_reason": self.last_reason,
            "spec": self.spec.model_dump(mode="json"),
        }


def campaign_priorities() -> Any:
    """A subquery of ``(id, priority)`` per campaign, for another stage's query to join on (review's queue)."""
    return select(Campaign.id, Campaign.priority).subquery("campaign_priority")


def page_count(session: Session, campaign_id: str) -> int:
    """How many pages a campaign fetched."""
    return session.scalar(select(func.count()).select_from(Page).where(Page.campaign_id == campaign_id)) or 0


def new_campaign_id() -> str:
    """A fresh campaign id (short, URL- and file-name-safe)."""
    return f"c-{uuid.uuid4().hex[:12]}"


def frontier_path_for(frontier_dir: Path, campaign_id: str) -> Path:
    """Where a campaign's on-disk frontier lives."""
    return frontier_dir / f"{campaign_id}.frontier.sqlite3"


class Campaigns:
    """Campaign rows in the store: create, read, and every state change.

    Args:
        store: The shared store (migrated).
        clock: Source of the current time (injectable for tests).

    """

    def __init__(self, store: Store, clock: Clock = utcnow) -> None:
        self.store = store
        self.clock = clock

    def create(
        self, spec: CampaignSpec, *, campaign_id: str | None = None, queued: bool = False, priority: int = 0
    ) -> CampaignRecord:
        """Store a new campaign.

        Args:
            spec: The validated spec.
            campaign_id: Its id; a fresh one if omitted.
            queued: Hand it to a crawler worker at once instead of waiting for ``start``.
            priority: Workers claim queued campaigns of higher priority first (reports go before campaigns).

        Raises:
            CampaignError: If the id is taken.

        """
        cid = campaign_id or new_campaign_id()
        with self.store.session() as s:
            if s.get(Campaign, cid) is not None:
                raise CampaignError(f"campaign {cid} already exists")
            s.add(
                Campaign(
                    id=cid,
                    name=spec.name,
                    seeds=list(spec.seeds),
                    config=spec.model_dump(mode="json"),
                    status=(CampaignState.QUEUED if queued else CampaignState.CREATED).value,
                    created_at=self.clock(),
                    robots_override_reason=spec.robots.override_reason,
                    priority=priority,
                    updated_at=self.clock(),
                )
            )
        return self.get(cid)

    def get(self, campaign_id: str) -> CampaignRecord:
        """Read one campaign.

        Raises:
            CampaignError: If there is no such campaign.

        """
        with self.store.session() as s:
            row = s.get(Campaign, campaign_id)
            if row is None:
                raise CampaignError(f"no campaign {campaign_id!r}")
            return CampaignRecord.from_row(row)

    def list_all(self) -> list[CampaignRecord]:
        """Every campaign with a valid spec, newest first (rows the crawler made for bare jobs skipped)."""
        out: list[CampaignRecord] = []
        with self.store.session() as s:
            for row in s.scalars(select(Campaign).order_by(Campaign.created_at.desc())):
                try:
                    out.append(CampaignRecord.from_row(row))
                except (CampaignError, ValueError):
                    continue
        return out

    def _set_state(self, campaign_id: str, allowed: Iterable[CampaignState], new: CampaignState, **values: Any) -> bool:
        with self.store.session() as s:
            changed = s.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status.in_([a.value for a in allowed]))
                .values(status=new.value, updated_at=self.clock(), **values)
                .returning(Campaign.id)
            ).first()
        return changed is not None

    def finish_foreground(self, campaign_id: str, reason: str = "finished") -> bool:
        """Record that a crawl run in the foreground without a lease (the demo's) has finished.

        Returns:
            False if the campaign was in no state such a run starts from (it changed nothing).

        """
        now = self.clock()
        return self._set_state(campaign_id, [CampaignState.CREATED, CampaignState.QUEUED, CampaignState.RUNNING],
                               CampaignState.FINISHED, finished_at=now, last_reason=reason)

    def pause(self, campaign_id: str) -> CampaignState:
        """Ask a campaign to pause: a running crawl stops gracefully and keeps its queue.

        Returns:
            The state the campaign is now in (``pausing`` while a crawl winds down).

        Raises:
            CampaignError: If the campaign cannot be paused from its state.

        """
        record = self.get(campaign_id)
        if record.state is CampaignState.RUNNING:
            # A crawler that died has nothing to wind down: paused at once.
            target = CampaignState.PAUSING if record.lease_live(self.clock()) else CampaignState.PAUSED
            if self._set_state(campaign_id, [CampaignState.RUNNING], target):
                return target
        elif record.state in (CampaignState.CREATED, CampaignState.QUEUED, CampaignState.FAILED):
            if self._set_state(campaign_id, [record.state], CampaignState.PAUSED, lease_owner=None,
                               lease_expires_at=None):
                return CampaignState.PAUSED
        elif record.state in (CampaignState.PAUSING, CampaignState.PAUSED):
            return record.state
        raise CampaignError(f"campaign {campaign_id} is {self.get(campaign_id).state.value}; it cannot be paused")

    def stop(self, campaign_id: str) -> CampaignState:
        """Stop a campaign for good: a running crawl stops gracefully and its queue is dropped.

        Returns:
            ``stopping`` while a crawl winds down, else ``stopped``.

        Raises:
            CampaignError: If the campaign already finished or stopped.

        """
        record = self.get(campaign_id)
        live = record.state in ACTIVE_STATES and record.lease_live(self.clock())
        if live and self._set_state(campaign_id, ACTIVE_STATES, CampaignState.STOPPING):
            return CampaignState.STOPPING
        if record.state in (CampaignState.STOPPED, CampaignState.FINISHED):
            raise CampaignError(f"campaign {campaign_id} is already {record.state.value}")
        stoppable = {*ACTIVE_STATES, CampaignState.CREATED, CampaignState.QUEUED, CampaignState.PAUSED,
                     CampaignState.FAILED}
        if self._set_state(campaign_id, stoppable, CampaignState.STOPPED, lease_owner=None, lease_expires_at=None,
                           next_run_at=None, finished_at=self.clock(), last_reason="stopped by operator",
                           queued=0):
            self.drop_frontier(record)
            return CampaignState.STOPPED
        raise CampaignError(f"campaign {campaign_id} changed state meanwhile; try again")

    def queue(self, campaign_id: str) -> CampaignState:
        """Hand a campaign to the crawler workers (``start --detach``, ``resume --detach``).

        Raises:
            CampaignError: If a crawl of it is running.

        """
        record = self.get(campaign_id)
        if record.state in ACTIVE_STATES and record.lease_live(self.clock()):
            raise CampaignError(f"campaign {campaign_id} is {record.state.value} under {record.lease_owner}")
        if record.state is CampaignState.QUEUED:
            return record.state
        if self._set_state(campaign_id, {*STARTABLE_STATES, *ACTIVE_STATES}, CampaignState.QUEUED,
                           lease_owner=None, lease_expires_at=None):
            return CampaignState.QUEUED
        raise CampaignError(f"campaign {campaign_id} changed state meanwhile; try again")

    def claim(
        self,
        campaign_id: str,
        owner: str,
        lease_s: float,
        *,
        states: Iterable[CampaignState] = STARTABLE_STATES,
    ) -> CampaignRecord | None:
        """Take a campaign's lease and mark it running, if nobody else holds it.

        A campaign in ``states``, or an active one whose holder stopped renewing its lease
        (the process died), can be claimed. A dead holder's ``pausing`` or ``stopping`` is
        carried out here instead (the campaign becomes paused or stopped; None is returned).

        Returns:
            The campaign as claimed, or None if it was not claimable.

        """
        now = self.clock()
        record = self.get(campaign_id)
        allowed = frozenset(states)
        crashed = record.state in ACTIVE_STATES and not record.lease_live(now)
        if record.state not in allowed and not crashed:
            return None
        if crashed and record.state is CampaignState.PAUSING:
            self._set_state(campaign_id, [CampaignState.PAUSING], CampaignState.PAUSED, lease_owner=None,
                            lease_expires_at=None, last_reason="paused (its crawler had died)")
            return None
        if crashed and record.state is CampaignState.STOPPING:
            self.stop(campaign_id)
            return None
        values: dict[str, Any] = {
            "status": CampaignState.RUNNING.value,
            "lease_owner": owner,
            "lease_expires_at": now + timedelta(seconds=lease_s),
            "lease_version": record.lease_version + 1,
            "updated_at": now,
            "started_at": now,
            "finished_at": None,
            "last_reason": None,
        }
        with self.store.session() as s:
            won = s.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.lease_version == record.lease_version)
                .values(**values)
                .returning(Campaign.id)
            ).first()
        return self.get(campaign_id) if won is not None else None

    def claim_next(self, owner: str, lease_s: float) -> CampaignRecord | None:
        """Claim the oldest queued campaign, or an active one whose crawler died; None if none."""
        now = self.clock()
        with self.store.session() as s:
            candidates = list(
                s.execute(
                    select(Campaign.id, Campaign.status, Campaign.lease_expires_at)
                    .where(
                        or_(
                            Campaign.status == CampaignState.QUEUED.value,
                            Campaign.status.in_([a.value for a in ACTIVE_STATES]),
                        )
                    )
                    .order_by(Campaign.priority.desc(), Campaign.created_at)
                )
            )
        for cid, status, expires in candidates:
            if status != CampaignState.QUEUED.value and expires is not None and expires > now:
                continue
            claimed = self.claim(cid, owner, lease_s, states=[CampaignState.QUEUED])
            if claimed is not None:
                return claimed
        return None

    def heartbeat(
        self, campaign_id: str, owner: str, lease_s: float, counters: dict[str, int] | None = None
    ) -> CampaignState | None:
        """Renew the lease of a running crawl and store its counters.

        Returns:
            The campaign's state (``pausing``/``stopping`` tell the crawl to wind down), or None
            if this owner lost the lease (another process took the campaign over).

        """
        now = self.clock()
        with self.store.session() as s:
            row = s.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.lease_owner == owner)
                .values(
                    lease_expires_at=now + timedelta(seconds=lease_s),
                    lease_version=Campaign.lease_version + 1,
                    updated_at=now,
                    **(counters or {}),
                )
                .returning(Campaign.status)
            ).first()
        return None if row is None else CampaignState(row[0])

    def set_frontier(self, campaign_id: str, path: Path, *, fresh_run: bool) -> None:
        """Record the frontier file of a run; a fresh run also resets counters and counts the run."""
        values: dict[str, Any] = {"frontier_path": str(path)}
        if fresh_run:
            values.update(pages_fetched=0, media_fetched=0, fetch_errors=0, queued=0,
                          run_count=Campaign.run_count + 1)
        with self.store.session() as s:
            s.execute(update(Campaign).where(Campaign.id == campaign_id).values(**values))

    def release(self, campaign_id: str, owner: str, outcome: CampaignState, reason: str) -> CampaignState | None:
        """End a run: set its outcome, drop the lease, schedule the next run of a recurring campaign.

        Args:
            campaign_id: The campaign.
            owner: The lease holder; nothing changes if it no longer holds the lease.
            outcome: ``finished``, ``paused``, ``stopped``, ``failed`` or ``queued`` (handed back).
            reason: Why the run ended (shown by ``campaign status``).

        Returns:
            The state written, or None if the lease had been lost.

        """
        now = self.clock()
        record = self.get(campaign_id)
        values: dict[str, Any] = {
            "status": outcome.value,
            "lease_owner": None,
            "lease_expires_at": None,
            "lease_version": record.lease_version + 1,
            "updated_at": now,
            "last_reason": reason,
        }
        if outcome in (CampaignState.FINISHED, CampaignState.STOPPED, CampaignState.FAILED):
            values["finished_at"] = now
        if outcome is CampaignState.FINISHED:
            values["queued"] = 0
            hours = record.spec.recurrence_hours
            values["next_run_at"] = None if hours is None else now + timedelta(hours=hours)
        if outcome is CampaignState.STOPPED:
            values["queued"] = 0
            values["next_run_at"] = None
        with self.store.session() as s:
            won = s.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.lease_owner == owner)
                .values(**values)
                .returning(Campaign.id)
            ).first()
        if won is None:
            return None
        if outcome in (CampaignState.FINISHED, CampaignState.STOPPED):
            self.drop_frontier(record)
        return outcome

    def promote_due(self) -> list[str]:
        """Queue every recurring campaign whose next run is due; return their ids."""
        now = self.clock()
        with self.store.session() as s:
            due = list(
                s.scalars(
                    select(Campaign.id).where(
                        Campaign.status == CampaignState.FINISHED.value,
                        Campaign.next_run_at.is_not(None),
                        Campaign.next_run_at <= now,
                    )
                )
            )
        promoted = [cid for cid in due if self._set_state(cid, [CampaignState.FINISHED], CampaignState.QUEUED,
                                                            next_run_at=None)]
        return promoted

    @staticmethod
    def drop_frontier(record: CampaignRecord) -> None:
        """Delete a campaign's frontier files (its queue is finished or abandoned)."""
        if not record.frontier_path:
            return
        base = Path(record.frontier_path)
        for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
            path.unlink(missing_ok=True)

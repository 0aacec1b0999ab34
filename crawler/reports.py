"""Crawler stage reports: URLs the public or a partner reported, each fetched once as a high-priority crawl.

The crawler owns ``reports``, ``reported_urls`` and ``report_urls``. A report names one or more URLs;
each is normalised and kept once however many reports name it (duplicate collapsing), and a URL seen
for the first time becomes a seed of the report's own campaign: depth 0, queued at
:data:`REPORT_PRIORITY` so a crawler worker claims it before operators' campaigns, fetched through the
crawler's safe fetcher under the usual address policy, its media references marked
``origin=report``. The reporter gets a :func:`new_code`; what the code shows is derived on read by
the web app from the owners' query functions (``web.reports.report_status``), never written here.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import PermanentError
from core.messages import FetchOrigin, utcnow
from core.store import Store
from core.store.tables.crawler import Page, Report, ReportedUrl, ReportLink, Sighting
from crawler.campaigns import CampaignLimits, Campaigns, CampaignSpec
from crawler.settings import CrawlerSettings

Clock = Callable[[], datetime]

REPORT_PRIORITY = 100
"""Campaign priority of a report's crawl (operators' campaigns default to 0)."""
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: no I, L, O or U, so a code read aloud or retyped is not mistaken."""
CODE_RANDOM_CHARS = 9
"""45 random bits; with the per-address rate limit a code cannot be guessed."""
MAX_URL_CHARS = 2000


class ReportStatus(StrEnum):
    """What a reporter sees of a reported URL (values are part of the API: never rename one)."""

    RECEIVED = "received"
    """Not assessed yet: the page is not fetched, or some media on it awaits an analyst."""
    ASSESSED = "assessed"
    """The page was fetched and everything on it was decided or found not actionable."""
    REMOVAL_REQUESTED = "removal_requested"
    """A notice went out for media sighted on the URL."""
    REMOVED = "removed"
    """The recheck found every noticed item gone."""


class WhereSeen(StrEnum):
    """Where the reporter came across the URL (storage keys)."""

    WEBSITE = "website"
    SOCIAL_MEDIA = "social_media"
    MESSAGING = "messaging"
    SEARCH_ENGINE = "search_engine"
    OTHER = "other"


class ReportSource(StrEnum):
    """Who submitted a report (storage keys)."""

    PUBLIC = "public"
    PARTNER = "partner"


class ReportRefusedError(PermanentError):
    """A report that cannot be taken as sent; ``field`` names the part that is wrong."""

    def __init__(self, reason: str, *, field: str) -> None:
        super().__init__(reason)
        self.field = field


def _check_char(body: str) -> str:
    # Position-weighted sum mod 32: any single wrong character, and any swap of two neighbours, changes it.
    total = sum((i + 1) * CODE_ALPHABET.index(c) for i, c in enumerate(body))
    return CODE_ALPHABET[total % len(CODE_ALPHABET)]


def new_code() -> str:
    """A fresh report code: 9 random base32 characters and a check character (10 in all)."""
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_RANDOM_CHARS))
    return body + _check_char(body)


def parse_code(text: str) -> str | None:
    """A code as typed (any case, spaces or dashes, O for 0, I/L for 1) in its stored form; None if not valid."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != CODE_RANDOM_CHARS + 1 or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    body, check = cleaned[:-1], cleaned[-1]
    return cleaned if secrets.compare_digest(_check_char(body), check) else None


def normalise_url(url: str) -> str:
    """The form a reported URL is kept and fetched in: scheme and host lower-case, default port and fragment dropped.

    Raises:
        ReportRefusedError: If it is not an absolute http(s) URL of at most :data:`MAX_URL_CHARS` characters.

    """
    text = url.strip()
    if len(text) > MAX_URL_CHARS:
        raise ReportRefusedError(f"a URL is longer than {MAX_URL_CHARS} characters", field="urls")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ReportRefusedError("a URL could not be read", field="urls") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise ReportRefusedError("each URL must start with http:// or https://", field="urls")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


@dataclass(frozen=True, slots=True)
class ReportForm:
    """A report as submitted (already bounded by the web layer's field limits)."""

    urls: Sequence[str]
    where_seen: WhereSeen
    source: ReportSource
    description: str | None = None
    contact: str | None = None
    reference: str | None = None
    partner: str | None = None
    language: str = "en"


@dataclass(frozen=True, slots=True)
class ReportedUrlFacts:
    """One URL of a report, with what the crawler knows of it."""

    url: str
    campaign_id: str | None
    fetched: bool
    """A page was recorded for it (fetched or failed) by its crawl."""
    sha256s: frozenset[str]
    """The media sighted on it by its crawl."""
    media_pending: bool = False
    """Media found on the page is still on its way (not every fetch is recorded as a sighting yet)."""


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """A report as the crawler knows it: when, and its URLs in the reporter's order."""

    code: str
    created_at: datetime
    urls: list[ReportedUrlFacts]


class Reports:
    """Takes reports and turns each newly reported URL into a high-priority depth-0 crawl.

    Args:
        store: The shared store (migrated).
        crawler: The ``[crawler]`` settings (operator and contact named in the crawl's user agent, address policy).
        clock: Current UTC time (tests inject one).

    """

    def __init__(self, store: Store, crawler: CrawlerSettings, clock: Clock = utcnow) -> None:
        self.store = store
        self.crawler = crawler
        self.clock = clock

    def submit(self, form: ReportForm, *, max_urls: int) -> str:
        """Store a report, link its URLs (new ones once), queue the crawl of the new ones; return its code.

        Raises:
            ReportRefusedError: If it names no URL, too many, or one that is not an http(s) URL.

        """
        urls = list(dict.fromkeys(normalise_url(u) for u in form.urls if u.strip()))
        if not urls:
            raise ReportRefusedError("give at least one URL", field="urls")
        if len(urls) > max_urls:
            raise ReportRefusedError(f"at most {max_urls} URLs in one report", field="urls")
        now = self.clock()
        code = new_code()
        fresh: list[int] = []
        with self.store.session() as s:
            report = Report(code=code, source=form.source.value, where_seen=form.where_seen.value,
                            description=form.description or None, contact=form.contact or None,
                            reference=form.reference or None, partner=form.partner, language=form.language,
                            created_at=now)
            s.add(report)
            s.flush()
            for position, url in enumerate(urls):
                key = hashlib.sha256(url.encode()).hexdigest()
                row = s.scalar(select(ReportedUrl).where(ReportedUrl.url_key == key))
                if row is None:
                    row = ReportedUrl(url_key=key, url=url, first_reported_at=now)
                    s.add(row)
                    s.flush()
                    fresh.append(row.id)
                s.add(ReportLink(report_id=report.id, reported_url_id=row.id, position=position))
            report_id = report.id
        if fresh:
            self._queue_crawl(report_id, fresh)
        return code

    def _queue_crawl(self, report_id: int, url_ids: list[int]) -> None:
        with self.store.session() as s:
            seeds = list(s.scalars(select(ReportedUrl.url).where(ReportedUrl.id.in_(url_ids)).order_by(ReportedUrl.id)))
        # Depth 0: the reported pages and their media, nothing they link to. The campaign names the report's row,
        # never its code (operators see campaigns; the code is the reporter's).
        # A report cannot wait for an operator to fill in [crawler] operator; the user agent then names orbweaver.
        spec = CampaignSpec(name=f"report {report_id}", seeds=seeds, operator=self.crawler.operator or "orbweaver",
                            contact_url=self.crawler.contact_url,
                            limits=CampaignLimits(max_depth=0, max_pages=len(seeds)), origin=FetchOrigin.REPORT)
        record = Campaigns(self.store, self.clock).create(spec, queued=True, priority=REPORT_PRIORITY)
        with self.store.session() as s:
            for row in s.scalars(select(ReportedUrl).where(ReportedUrl.id.in_(url_ids))):
                row.campaign_id = record.id


def report_facts(session: Session, code: str) -> ReportFacts | None:
    """A report's URLs and what its crawls found, for status and statistics; None if no report has ``code``."""
    report = session.scalar(select(Report).where(Report.code == code))
    if report is None:
        return None
    return _facts(session, report)


def _facts(session: Session, report: Report) -> ReportFacts:
    rows = session.execute(
        select(ReportedUrl.url, ReportedUrl.campaign_id)
        .join(ReportLink, ReportLink.reported_url_id == ReportedUrl.id)
        .where(ReportLink.report_id == report.id)
        .order_by(ReportLink.position)
    ).all()
    out = []
    for url, campaign_id in rows:
        found: int | None = None
        sha256s: frozenset[str] = frozenset()
        sighted = 0
        if campaign_id is not None:
            found = session.scalar(select(func.max(Page.media_found))
                                   .where(Page.campaign_id == campaign_id, Page.url == url))
            hashes = list(session.scalars(select(Sighting.sha256).where(Sighting.campaign_id == campaign_id,
                                                                        Sighting.page_url == url)))
            sighted = len(hashes)
            sha256s = frozenset(sha for sha in hashes if sha is not None)
        # A failed fetch is recorded by the crawl, a good one by hashing once it hashed it: fewer sightings than
        # media found means some are still being hashed, and the page cannot count as assessed yet.
        out.append(ReportedUrlFacts(url=url, campaign_id=campaign_id, fetched=found is not None, sha256s=sha256s,
                                    media_pending=found is not None and sighted < found))
    return ReportFacts(code=report.code, created_at=report.created_at, urls=out)


def all_report_facts(session: Session, *, since: datetime | None = None) -> list[ReportFacts]:
    """Every report (made at or after ``since``), oldest first, with its URLs' facts (statistics)."""
    query = select(Report).order_by(Report.created_at, Report.id)
    if since is not None:
        query = query.where(Report.created_at >= since)
    return [_facts(session, r) for r in session.scalars(query)]

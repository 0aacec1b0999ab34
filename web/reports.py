"""Public and partner reports in the web app (top of the stack): the /report pages, POST /v1/reports, statistics.

Anyone may report URLs on ``/report`` (no account) in any language the notices are written in, and look up
what became of them on ``/report/status`` with the code they were given; partners send reports with an API
token to ``POST /v1/reports``. The crawler keeps the reports (:mod:`crawler.reports`); what a code shows is
derived here on every read from the owners' query functions (crawler, review, notifier), so nothing
downstream writes the crawler's tables. A reporter sees one of four words per URL, never a detail.

Abuse resistance needs no outside service: every report body is bounded (``[web] report_max_request_bytes``,
413 past it), each client address has a token bucket, the public form carries a double-submit CSRF token (no
session exists), and the address is kept only as a keyed hash in the limiter's memory, never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core.store import Store
from crawler.reports import (
    ReportedUrlFacts,
    ReportFacts,
    ReportForm,
    ReportRefusedError,
    Reports,
    ReportSource,
    ReportStatus,
    WhereSeen,
    all_report_facts,
    parse_code,
    report_facts,
)
from notifier.report import notice_progress, percentile
from review.service import media_review_states
from web.api import _ERRORS as API_ERRORS
from web.api import CALLER, TokenBuckets
from web.audit import record
from web.auth import Principal, Role, client_ip, form_token, form_token_ok, public, requires, set_form_token
from web.context import WebContext, context
from web.forms import FormState, form_page
from web.report_words import RIGHT_TO_LEFT, language_menu, pick_language, words
from web.templating import render

REPORT_COOKIE = "orbweaver_report_csrf"
"""Short-lived cookie holding the report forms' CSRF token (double submit: reporters have no session)."""
MAX_URLS_FIELD = 64_000
MAX_DESCRIPTION = 2000
MAX_CONTACT = 300
OPEN_REVIEW = "pending"
"""Review status of an item no analyst has decided yet."""
CONFIRMED = "confirmed"
"""Review status of an item classified as actionable."""
AUDIT_ACTION = "api.report"
"""Audit action of a partner's report (its caller and URL count; never the code, which is the reporter's key)."""


# ---------------------------------------------------------------------------------------------------------------
# Status, derived on read


def url_status(session: Session, facts: ReportedUrlFacts) -> ReportStatus:
    """What one reported URL shows: a notice and its recheck first, else whether everything on it was assessed."""
    sha256s = facts.sha256s
    progress = notice_progress(session, sha256s)
    if progress.noticed:
        return ReportStatus.REMOVED if progress.all_removed else ReportStatus.REMOVAL_REQUESTED
    if not facts.fetched or facts.media_pending:
        return ReportStatus.RECEIVED
    states = media_review_states(session, sha256s)
    # Media without a review item matched nothing and was not triaged as actionable; an open item is not assessed.
    if any(status == OPEN_REVIEW for status, _ in states.values()):
        return ReportStatus.RECEIVED
    return ReportStatus.ASSESSED


def report_status(session: Session, facts: ReportFacts) -> list[tuple[str, ReportStatus]]:
    """``(url, status)`` of every URL of a report, in the reporter's order."""
    return [(u.url, url_status(session, u)) for u in facts.urls]


def lookup(store: Store, code: str) -> list[tuple[str, ReportStatus]] | None:
    """The statuses a report code shows; None if the code is not valid or names no report."""
    parsed = parse_code(code)
    if parsed is None:
        return None
    with store.session() as s:
        facts = report_facts(s, parsed)
        return None if facts is None else report_status(s, facts)


@dataclass(frozen=True, slots=True)
class ReportStats:
    """What reports achieved: how many were actionable and how fast notices and removals followed (hours)."""

    reports: int
    actionable: int
    notice_hours_median: float | None
    notice_hours_p90: float | None
    removal_hours_median: float | None
    removal_hours_p90: float | None

    @property
    def actionable_share(self) -> float | None:
        """Share of reports with at least one URL whose media was confirmed or noticed (None: no reports)."""
        return self.actionable / self.reports if self.reports else None

    def as_json(self) -> dict[str, Any]:
        """The statistics as a JSON object."""
        return {"reports": self.reports, "actionable": self.actionable, "actionable_share": self.actionable_share,
                "notice_hours": {"median": self.notice_hours_median, "p90": self.notice_hours_p90},
                "removal_hours": {"median": self.removal_hours_median, "p90": self.removal_hours_p90}}


def _hours(start: datetime, end: datetime | None) -> float | None:
    # Media noticed before anyone reported it counts as noticed at once: the report did not wait for it.
    return None if end is None else max(0.0, (end - start).total_seconds() / 3600)


def report_statistics(store: Store, since: datetime | None = None) -> ReportStats:
    """Actionable share and time from report to first notice and to first removal (median, p90) of every report."""
    actionable = 0
    to_notice: list[float] = []
    to_removal: list[float] = []
    with store.session() as s:
        every = all_report_facts(s, since=since)
        for facts in every:
            media = frozenset().union(*(u.sha256s for u in facts.urls))
            progress = notice_progress(s, media)
            confirmed = any(status == CONFIRMED for status, _ in media_review_states(s, media).values())
            if confirmed or progress.noticed:
                actionable += 1
            if (noticed := _hours(facts.created_at, progress.first_noticed_at)) is not None:
                to_notice.append(noticed)
            if (removed := _hours(facts.created_at, progress.first_removed_at)) is not None:
                to_removal.append(removed)
    return ReportStats(reports=len(every), actionable=actionable,
                       notice_hours_median=percentile(to_notice, 50), notice_hours_p90=percentile(to_notice, 90),
                       removal_hours_median=percentile(to_removal, 50), removal_hours_p90=percentile(to_removal, 90))


# ---------------------------------------------------------------------------------------------------------------
# Shared objects


@dataclass
class ReportDesk:
    """The report routes' shared objects: the service, the per-address buckets and the key addresses are hashed with."""

    reports: Reports
    buckets: TokenBuckets
    address_key: bytes
    """Lives only in this process's memory: a hashed address cannot be turned back, nor linked across restarts."""

    def address(self, request: Request) -> str:
        """The caller's address as the limiter keeps it: a keyed hash."""
        return hmac.new(self.address_key, client_ip(request).encode(), hashlib.sha256).hexdigest()

    def wait_s(self, request: Request) -> int:
        """Spend one of the caller's address's requests; the seconds to wait (0: go ahead)."""
        wait = self.buckets.take(self.address(request))
        return max(1, math.ceil(wait)) if wait > 0 else 0


def desk(ctx: WebContext) -> ReportDesk:
    """This app's :class:`ReportDesk`, created on first use."""
    found = ctx.extras.get(__name__)
    if found is None:
        web = ctx.settings.web
        found = ctx.extras.setdefault(__name__, ReportDesk(
            reports=Reports(ctx.store, ctx.settings.crawler, ctx.clock),
            buckets=TokenBuckets(web.report_rate_per_minute, web.report_burst, ctx.clock),
            address_key=secrets.token_bytes(32)))
    assert isinstance(found, ReportDesk)
    return found


# ---------------------------------------------------------------------------------------------------------------
# Public pages


router = APIRouter(include_in_schema=False)
WHERE_CHOICES = tuple(WhereSeen)


def _page(request: Request, name: str, language: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    ctx = context(request)
    token = form_token(request, REPORT_COOKIE)
    text = words(language)
    response = render(request, name, None, status_code=status_code, title=text["title"], lang=language,
                      direction="rtl" if language in RIGHT_TO_LEFT else "ltr", w=text, languages=language_menu(),
                      report_csrf=token, where_choices=WHERE_CHOICES, **values)
    set_form_token(response, request, ctx.settings.web, REPORT_COOKIE, token, path="/report")
    return response


def _language(request: Request, requested: str | None) -> str:
    return pick_language(requested, request.headers.get("accept-language"))


def _form_page(request: Request, language: str, form: FormState, error: str | None, status_code: int) -> HTMLResponse:
    return _page(request, "report.html", language, status_code=status_code, form=form, error=error)


def _report_again(request: Request, form: FormState) -> Response:
    """The report form again after a field was refused (too long, say), what was typed kept."""
    language = _language(request, form.value("lang"))
    return _form_page(request, language, form, words(language)["bad_urls"], form.status_code)


@dataclass(frozen=True, slots=True)
class _Refusal:
    word: str
    """Key of the message in :mod:`web.report_words`."""
    status_code: int
    retry_after_s: int = 0


def _refusal(request: Request, sent_csrf: str) -> _Refusal | None:
    """Why a public form post is refused before it is read (the address's rate limit, a stale form), or None."""
    wait = desk(context(request)).wait_s(request)
    if wait:
        return _Refusal("too_many", 429, wait)
    if not form_token_ok(request, REPORT_COOKIE, sent_csrf):
        return _Refusal("expired", 403)
    return None


def _refused(response: HTMLResponse, refusal: _Refusal) -> HTMLResponse:
    if refusal.retry_after_s:
        response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


@router.get("/report", response_class=HTMLResponse, dependencies=[Depends(public("anyone may report URLs"))])
def report_form(request: Request, lang: str | None = None) -> Response:
    """The public report form."""
    return _form_page(request, _language(request, lang), FormState(status_code=200), None, 200)


@router.post("/report", dependencies=[Depends(public("anyone may report URLs"))])
@form_page(_report_again)
def report_submit(
    request: Request,
    urls: Annotated[str, Form(max_length=MAX_URLS_FIELD)],
    where_seen: Annotated[str, Form(max_length=40)],
    description: Annotated[str, Form(max_length=MAX_DESCRIPTION)] = "",
    contact: Annotated[str, Form(max_length=MAX_CONTACT)] = "",
    lang: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Take a report; answer its code, or the form again with what is wrong."""
    ctx = context(request)
    language = _language(request, lang)
    form = FormState(values={"urls": [urls], "where_seen": [where_seen], "description": [description],
                             "contact": [contact]}, status_code=422)
    refused = _refusal(request, csrf_token)
    if refused is not None:
        return _refused(_form_page(request, language, form, words(language)[refused.word], refused.status_code),
                        refused)
    seen = WhereSeen(where_seen) if where_seen in {w.value for w in WhereSeen} else WhereSeen.OTHER
    try:
        code = desk(ctx).reports.submit(
            ReportForm(urls=urls.splitlines(), where_seen=seen, source=ReportSource.PUBLIC,
                       description=description.strip() or None, contact=contact.strip() or None, language=language),
            max_urls=ctx.settings.web.report_max_urls)
    except ReportRefusedError:
        return _form_page(request, language, form, words(language)["bad_urls"], 422)
    return _page(request, "report_done.html", language, code=f"{code[:5]}-{code[5:]}")


def _status_page(request: Request, language: str, *, status_code: int = 200, code: str = "",
                 found: list[tuple[str, ReportStatus]] | None = None, error: str | None = None) -> HTMLResponse:
    return _page(request, "report_status.html", language, status_code=status_code, code=code, found=found,
                 error=error)


def _status_again(request: Request, form: FormState) -> Response:
    language = _language(request, form.value("lang"))
    return _status_page(request, language, status_code=form.status_code, error=words(language)["unknown_code"])


@router.get("/report/status", response_class=HTMLResponse,
            dependencies=[Depends(public("reporters look up their report by its code"))])
def status_form(request: Request, lang: str | None = None) -> Response:
    """The form where a reporter enters their code."""
    return _status_page(request, _language(request, lang))


@router.post("/report/status", dependencies=[Depends(public("reporters look up their report by its code"))])
@form_page(_status_again)
def status_lookup(
    request: Request,
    code: Annotated[str, Form(max_length=40)],
    lang: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Show each URL of a report with its status (the code travels in the body, never in an address or a log)."""
    ctx = context(request)
    language = _language(request, lang)
    refused = _refusal(request, csrf_token)
    if refused is not None:
        return _refused(_status_page(request, language, status_code=refused.status_code, code=code,
                                     error=words(language)[refused.word]), refused)
    found = lookup(ctx.store, code)
    if found is None:
        return _status_page(request, language, status_code=404, code=code, error=words(language)["unknown_code"])
    return _status_page(request, language, code=code, found=found)


# ---------------------------------------------------------------------------------------------------------------
# Partner API


api_router = APIRouter(prefix="/v1", tags=["reports"], responses=API_ERRORS)


class ReportIn(BaseModel):
    """A partner's report of one or more URLs."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1, max_length=1000, description="Absolute http(s) URLs (at most "
                            "`[web] report_max_urls`).")
    where_seen: WhereSeen = Field(description="Where the URLs were come across.")
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    reference: str | None = Field(default=None, max_length=200, description="The partner's own reference.")


class ReportedUrlOut(BaseModel):
    """One URL of a report and its status."""

    url: str = Field(description="The URL as kept (normalised).")
    status: ReportStatus


class ReportOut(BaseModel):
    """A report's code and the status of each of its URLs."""

    code: str = Field(description="The report's code (10 characters, base32 with a check character).")
    urls: list[ReportedUrlOut]


def _answer(code: str, found: list[tuple[str, ReportStatus]]) -> ReportOut:
    return ReportOut(code=code, urls=[ReportedUrlOut(url=u, status=s) for u, s in found])


@api_router.post("/reports", summary="Report URLs", response_model=ReportOut, status_code=201)
def post_report(report: ReportIn, caller: CALLER) -> ReportOut:
    """Report URLs: each new one is fetched at high priority; the answer is the code and each URL's status."""
    ctx = caller.ctx
    try:
        code = desk(ctx).reports.submit(
            ReportForm(urls=report.urls, where_seen=report.where_seen, source=ReportSource.PARTNER,
                       description=report.description, reference=report.reference,
                       partner=caller.principal.name),
            max_urls=ctx.settings.web.report_max_urls)
    except ReportRefusedError as exc:
        raise HTTPException(422, str(exc)) from None
    record(ctx.store, caller.principal.name, AUDIT_ACTION, "/v1/reports", at=ctx.clock(), urls=len(report.urls))
    found = lookup(ctx.store, code)
    assert found is not None  # just stored
    return _answer(code, found)


@api_router.get("/reports/{code}", summary="Status of a report", response_model=ReportOut)
def get_report(code: str, caller: CALLER) -> ReportOut:
    """Each URL of a report and its status (404 for a code that names no report)."""
    found = lookup(caller.ctx.store, code)
    if found is None:
        raise HTTPException(404, "no report has this code")
    parsed = parse_code(code)
    assert parsed is not None
    return _answer(parsed, found)


# ---------------------------------------------------------------------------------------------------------------
# Operators' statistics


OPERATORS = requires(Role.OPERATOR, Role.ADMIN)


@router.get("/dashboard/reports", response_class=HTMLResponse)
async def stats_page(request: Request, principal: Annotated[Principal, Depends(OPERATORS)]) -> HTMLResponse:
    """Report statistics: actionable share, time from report to first notice and to removal."""
    stats = await run_in_threadpool(report_statistics, context(request).store)
    return render(request, "report_stats.html", principal, title="Reports", stats=stats)

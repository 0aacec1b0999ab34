"""Provider portal (top of the stack): a hosting provider's staff follow their notices, report removals, contest items.

A ``provider`` user is bound to one provider and sees only the notices sent to it: another
provider's notice or item answers 404, exactly like one that does not exist, so nobody learns
that it does. Admins may read any provider's portal (``?provider=<id>`` on the list) but not act.

Per item the portal shows what the notice listed (URL, page, first seen, last verified present,
hashes, classification, evidence reference; never media) and where the item stands for this
provider: ``open``, ``removal claimed`` (the provider said it removed it and an immediate recheck
was asked of the crawler, exactly as the notifier schedules one), ``rechecking`` (that recheck
could not tell), ``gone`` (with the time to removal), ``contested`` (waiting for a senior
analyst; the item gets no further notice meanwhile), ``changed``, or ``withdrawn`` (the contest
was accepted). Every view and action is audited.

Senior analysts decide contests on ``/review/contests/<id>`` (the queue lists the open ones):
the media is shown reduced and revealed in audited steps as on the review pages, and the
decision is the notifier's (:func:`notifier.portal.decide_contest`); an accepted contest is first
reclassified by review (:meth:`review.workflow.ReviewWorkflow.accept_contest`), whose announced
decision withdraws the item's notices in the notifier. What the portal shows (``notifier.portal.notice_view``,
``provider_notices``) and what it records (removal claims, contests) are the notifier's service
(:mod:`notifier.portal`): these routes read and write no table of the notifier's themselves.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from core.errors import TransientError
from core.spreadsheet import csv_cell
from notifier import portal
from notifier.portal import STATE_LABELS, ContestEntry, ItemState, PortalItem, PortalRefusedError
from notifier.states import ContestStatus
from review.service import ItemView
from review.workflow import ReviewRefusedError
from web.audit import AuditAction, record
from web.auth import Principal, Role, client_ip, requires
from web.context import WebContext, context
from web.forms import EMPTY, FormRefusedError, FormState, form_page
from web.media import REVEAL_STEPS, RevealLevel
from web.review import _item_details, _ours, reduced_media, review_item, shown_as, workflow
from web.templating import render
from web.words import classification_label, counted

router = APIRouter(include_in_schema=False)
READERS = requires(Role.PROVIDER, Role.ADMIN)
PROVIDERS = requires(Role.PROVIDER)
SENIORS = requires(Role.SENIOR_ANALYST)

REASON_MAX = 2000
"""Longest contest reason (and senior's note) accepted, in characters."""
CLAIM_RETRY = timedelta(hours=1)
"""A second "removed" within this time of an unanswered one asks for no new recheck (the first is on its way)."""
NOTICES_LISTED = 500


class PortalAction(StrEnum):
    """Audit actions of the portal and of contest review. Values are storage keys."""

    REMOVAL_CLAIM = "provider.removal_claim"
    CONTEST = "provider.contest"
    PROVIDERS_VIEW = "provider.providers_view"
    CONTEST_VIEW = "review.contest_view"
    CONTEST_DECISION = "review.contest_decision"


DONE_MESSAGES = {
    "removed": "Thank you. The item is being rechecked now; it closes as soon as the recheck finds it gone.",
    "pending": "A recheck for this item is already on its way; it closes as soon as the recheck finds it gone.",
    "bulk": "Thank you. The items you marked removed are being rechecked now; each closes as soon as its recheck "
            "finds it gone.",
    "contested": "Your contest is recorded. A senior analyst will decide it; no further notice about this item "
                 "is sent meanwhile.",
}


# ---------------------------------------------------------------------------------------------------------------
# Who sees what


def _acting_provider(principal: Principal) -> int | None:
    """The provider a provider user is bound to; None for an admin reading."""
    if principal.has(Role.PROVIDER):
        if principal.provider_id is None:
            # A provider account is always bound to a provider (Accounts.create_user enforces it).
            raise HTTPException(403, "this account is not bound to a provider")
        return principal.provider_id
    return None


def _item_for(s: Session, principal: Principal, notice_id: str, item_id: int) -> None:
    """404 unless the item is listed in one of this caller's notices (another provider's answers the same)."""
    if not portal.notice_visible(s, notice_id, _acting_provider(principal)):
        raise HTTPException(404, "no such notice")
    if not portal.item_listed(s, notice_id, item_id):
        raise HTTPException(404, "no such item in this notice")


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


# ---------------------------------------------------------------------------------------------------------------
# Provider pages


@router.get("/provider/notices", response_class=HTMLResponse)
def notices(
    request: Request, principal: Annotated[Principal, Depends(READERS)], provider: int | None = None
) -> Response:
    """This provider's notices, newest first (an admin names the provider, or gets the list of providers)."""
    ctx = context(request)
    own = _acting_provider(principal)
    if own is None and provider is None:
        return _providers_index(request, ctx, principal)
    provider_id = own if own is not None else provider
    assert provider_id is not None
    with ctx.store.session() as s:
        found = portal.provider_notices(s, provider_id, limit=NOTICES_LISTED)
    if found is None:
        raise HTTPException(404, "no such provider")
    name, shown = found
    record(ctx.store, principal.name, AuditAction.NOTICES_VIEW, f"provider:{provider_id}", at=ctx.clock(),
           shown=len(shown), **({"read_only": True} if own is None else {}))
    return render(request, "provider_notices.html", principal, title="Notices", provider_name=name,
                  provider_id=provider_id, read_only=own is None, notices=shown)


def _providers_index(request: Request, ctx: WebContext, principal: Principal) -> Response:
    with ctx.store.session() as s:
        providers = portal.provider_index(s)
    record(ctx.store, principal.name, PortalAction.PROVIDERS_VIEW, None, at=ctx.clock(), shown=len(providers))
    return render(request, "provider_index.html", principal, title="Provider portals", providers=providers)


class ItemFilter:
    """Which of a notice's items the page lists: by state, and by the day each was first seen (UTC)."""

    def __init__(self, status: str = "", since: str = "", until: str = "") -> None:
        self.status = status if status in {str(v) for v in ItemState} else ""
        self.since = _day(since)
        self.until = _day(until)

    def keep(self, item: PortalItem) -> bool:
        """Whether ``item`` passes the filter."""
        seen = item.first_seen.date()
        return ((not self.status or str(item.state) == self.status)
                and (self.since is None or seen >= self.since) and (self.until is None or seen <= self.until))

    def form(self) -> dict[str, str]:
        """The filter as the form shows it."""
        return {"status": self.status, "since": self.since.isoformat() if self.since else "",
                "until": self.until.isoformat() if self.until else ""}


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def _visible_notice(
    request: Request, notice_id: str, principal: Principal
) -> tuple[dict[str, object], list[PortalItem]]:
    ctx = context(request)
    with ctx.store.session() as s:
        found = portal.notice_view(s, notice_id, _acting_provider(principal))
    if found is None:
        raise HTTPException(404, "no such notice")
    return found


def _notice_view(request: Request, notice_id: str, principal: Principal, *, as_json: bool,
                 shown: ItemFilter | None = None, error: str | None = None,
                 form: FormState = EMPTY, form_item: int | None = None) -> Response:
    ctx = context(request)
    data, items = _visible_notice(request, notice_id, principal)
    read_only = _acting_provider(principal) is None
    record(ctx.store, principal.name, AuditAction.NOTICE_VIEW, f"notice:{notice_id}", at=ctx.clock(),
           **({"format": "json"} if as_json else {}), **({"read_only": True} if read_only else {}))
    if as_json:
        body = {**{k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()},
                "items": [{**i.as_json(), "classification_label": classification_label(ctx.settings.review,
                                                                                       i.classification)}
                          for i in items]}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})
    done = request.query_params.get("done", "")
    shown = shown or ItemFilter()
    listed = [i for i in items if shown.keep(i)]
    states = [(str(state), label) for state, label in STATE_LABELS.items()]
    return render(request, "provider_notice.html", principal, status_code=422 if error else form.status_code,
                  title=f"Notice {notice_id}", notice=data, error=error,
                  items=listed, total=len(items), filter=shown.form(), states=states, read_only=read_only,
                  message=DONE_MESSAGES.get(done), reason_max=REASON_MAX,
                  summary=f"{counted(len(listed), 'item')} shown of {len(items)}", form=form, form_item=form_item)


def _contest_again(request: Request, form: FormState) -> Response:
    """The notice page again after a refused contest, the reason as typed and the message beside it."""
    return _notice_view(request, request.path_params["notice_id"], request.state.principal, as_json=False,
                        form=form, form_item=int(request.path_params["item_id"]))


CSV_COLUMNS = ("item", "url", "page_url", "first_seen", "last_verified_present", "state", "classification",
               "classification_key", "sha256", "pdq", "evidence_reference", "removed_at", "time_to_removal")


def items_csv(items: Sequence[PortalItem], label: dict[str, str]) -> str:
    """A notice's items as CSV, every cell through :func:`core.spreadsheet.csv_cell` (no formula runs)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for i in items:
        writer.writerow([csv_cell(v) for v in (
            i.id, i.url, i.page_url, i.first_seen.isoformat(), i.last_verified_present.isoformat(), i.label,
            label.get(i.classification, i.classification), i.classification, i.sha256, i.pdq,
            i.evidence_reference, i.removed_at.isoformat() if i.removed_at else None, i.time_to_removal)])
    return out.getvalue()


@router.get("/provider/notices/{notice_id}.csv")
def notice_csv(request: Request, notice_id: str, principal: Annotated[Principal, Depends(READERS)]) -> Response:
    """One notice's items as CSV for a spreadsheet; same access rule as the page; audited."""
    ctx = context(request)
    _, items = _visible_notice(request, notice_id, principal)
    record(ctx.store, principal.name, AuditAction.NOTICE_VIEW, f"notice:{notice_id}", at=ctx.clock(), format="csv",
           **({"read_only": True} if _acting_provider(principal) is None else {}))
    labels = {i.classification: classification_label(ctx.settings.review, i.classification) for i in items}
    safe_id = "".join(c for c in notice_id if c.isalnum() or c in "-_")[:64]
    return Response(items_csv(items, labels), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="notice-{safe_id}.csv"',
                             "Cache-Control": "no-store"})


@router.get("/provider/notices/{notice_id}.json")
def notice_json(request: Request, notice_id: str, principal: Annotated[Principal, Depends(READERS)]) -> Response:
    """One notice and its items as JSON, for the provider's own tooling; same access rule as the page."""
    return _notice_view(request, notice_id, principal, as_json=True)


@router.get("/provider/notices/{notice_id}", response_class=HTMLResponse)
def notice(request: Request, notice_id: str, principal: Annotated[Principal, Depends(READERS)],
           status: Annotated[str, Query(max_length=40)] = "", since: Annotated[str, Query(max_length=10)] = "",
           until: Annotated[str, Query(max_length=10)] = "") -> Response:
    """One notice's items as a table, filtered by state and first-seen day (JSON when asked).

    Another provider's notice answers 404, as one that does not exist.
    """
    return _notice_view(request, notice_id, principal, as_json=_wants_json(request),
                        shown=ItemFilter(status, since, until))


def _after_action(request: Request, notice_id: str, item_id: int, principal: Principal, done: str) -> Response:
    if _wants_json(request):
        ctx = context(request)
        with ctx.store.session() as s:
            found = portal.notice_view(s, notice_id, _acting_provider(principal))
        assert found is not None
        item = next(i for i in found[1] if i.id == item_id)
        return JSONResponse({"done": done, "item": item.as_json()}, headers={"Cache-Control": "no-store"})
    return RedirectResponse(f"/provider/notices/{notice_id}?done={done}#item-{item_id}", status_code=303)


def _claim(request: Request, notice_id: str, item_id: int, principal: Principal) -> portal.Claim:
    """Record one removal claim and ask for its recheck (audited); 404/409 as the portal refuses."""
    ctx = context(request)
    provider_id = _acting_provider(principal)
    assert provider_id is not None
    now = ctx.clock()
    with ctx.store.session() as s:
        _item_for(s, principal, notice_id, item_id)
    try:
        claim, request_id = portal.claim_removal(ctx.store, ctx.bus, item_id, provider_id, now=now,
                                                 retry_after=CLAIM_RETRY)
    except portal.PortalRefusedError as exc:
        raise HTTPException(404 if exc.missing else 409, exc.reason) from None
    if claim is portal.Claim.PENDING:
        record(ctx.store, principal.name, PortalAction.REMOVAL_CLAIM, f"notice-item:{item_id}", at=now,
               notice=notice_id, provider=provider_id, repeated=True, ip=client_ip(request))
    else:
        record(ctx.store, principal.name, PortalAction.REMOVAL_CLAIM, f"notice-item:{item_id}", at=now,
               notice=notice_id, provider=provider_id, recheck=request_id, ip=client_ip(request))
    return claim


@router.post("/provider/notices/{notice_id}/items/{item_id}/removed")
def mark_removed(request: Request, notice_id: str, item_id: int,
                 principal: Annotated[Principal, Depends(PROVIDERS)]) -> Response:
    """The provider says it removed the item: record the claim and ask the crawler to recheck it now."""
    claim = _claim(request, notice_id, item_id, principal)
    return _after_action(request, notice_id, item_id, principal, str(claim))


BULK_MAX = 500
"""Most items one bulk "removed" may name (a notice lists fewer)."""


@router.post("/provider/notices/{notice_id}/removed")
def mark_many_removed(request: Request, notice_id: str, principal: Annotated[Principal, Depends(PROVIDERS)],
                      item: Annotated[list[int] | None, Form(max_length=BULK_MAX)] = None) -> Response:
    """Several items removed at once: each gets its claim and recheck as if marked alone.

    Items already closed are skipped; choosing none comes back to the notice with a message.
    """
    _, items = _visible_notice(request, notice_id, principal)
    open_ids = {i.id for i in items if i.may_act}
    chosen = [i for i in dict.fromkeys(item or []) if i in open_ids]
    if not chosen:
        return _notice_view(request, notice_id, principal, as_json=False, shown=ItemFilter(),
                            error="Tick the items you removed first (items already closed cannot be chosen).")
    for item_id in chosen:
        _claim(request, notice_id, item_id, principal)
    return RedirectResponse(f"/provider/notices/{notice_id}?done=bulk", status_code=303)


@router.post("/provider/notices/{notice_id}/items/{item_id}/contest")
@form_page(_contest_again)
def contest(request: Request, notice_id: str, item_id: int, principal: Annotated[Principal, Depends(PROVIDERS)],
            reason: Annotated[str, Form(max_length=REASON_MAX)] = "") -> Response:
    """The provider disputes the item's classification: notices pause and a senior analyst decides."""
    ctx = context(request)
    provider_id = _acting_provider(principal)
    assert provider_id is not None
    text = reason.strip()
    now = ctx.clock()
    with ctx.store.session() as s:
        _item_for(s, principal, notice_id, item_id)
    if not text:
        raise FormRefusedError({"reason": "Please give a reason: what makes this item wrongly classified."})
    try:
        contest_id = portal.open_contest(ctx.store, item_id=item_id, provider_id=provider_id, notice_id=notice_id,
                                         reason=text, created_by=principal.name, now=now)
    except portal.PortalRefusedError as exc:
        raise HTTPException(404 if exc.missing else 409, exc.reason) from None
    record(ctx.store, principal.name, PortalAction.CONTEST, f"notice-item:{item_id}", at=now, notice=notice_id,
           provider=provider_id, contest=contest_id, reason=text, ip=client_ip(request))
    return _after_action(request, notice_id, item_id, principal, "contested")


# ---------------------------------------------------------------------------------------------------------------
# Senior analysts: contests


def _find_contest(ctx: WebContext, contest_id: int, principal: Principal) -> ContestEntry:
    found = portal.contest(ctx.store, contest_id)
    # Another organisation's item's contest is not there for this senior analyst.
    if found is None or not _ours(ctx, principal, found.review_item_id):
        raise HTTPException(404, "no such contest")
    return found


def _contest_item(ctx: WebContext, entry: ContestEntry) -> ItemView:
    item = review_item(ctx, entry.review_item_id)
    if item is None:
        raise HTTPException(404, "the contested review item is gone")
    return item


@router.get("/review/contests/{contest_id}", response_class=HTMLResponse)
def contest_page(request: Request, contest_id: int, principal: Annotated[Principal, Depends(SENIORS)]) -> Response:
    """A provider's contest: its reason, the item's match and history, the reduced media, uphold or accept."""
    ctx = context(request)
    entry = _find_contest(ctx, contest_id, principal)
    item = _contest_item(ctx, entry)
    level = RevealLevel(ctx.accounts.reveal_level(principal, item.id))
    record(ctx.store, principal.name, PortalAction.CONTEST_VIEW, f"contest:{contest_id}", at=ctx.clock(),
           item=item.id, level=int(level), ip=client_ip(request))
    next_step = next((name for name, lvl in REVEAL_STEPS.items() if lvl == level + 1), None)
    wf = workflow(ctx)
    return render(request, "provider_contest.html", principal, title=f"Contest {contest_id}", contest=entry,
                  item=item, level=int(level), shown=shown_as(ctx, principal, level), next_step=next_step,
                  assessments=wf.assessments(item.id),
                  label=wf.label(item.classification) if item.classification else "", reason_max=REASON_MAX,
                  is_open=entry.status == ContestStatus.OPEN, **_item_details(ctx, item))


@router.get("/review/contests/{contest_id}/media")
def contest_media(request: Request, contest_id: int, principal: Annotated[Principal, Depends(SENIORS)]) -> Response:
    """The contested item's image at the level this session revealed (reduced until then); open contests only."""
    ctx = context(request)
    entry = _find_contest(ctx, contest_id, principal)
    if entry.status != ContestStatus.OPEN:
        raise HTTPException(404, "this contest is decided; its media is no longer shown")
    return reduced_media(ctx, principal, _contest_item(ctx, entry), contest=contest_id)


@router.post("/review/contests/{contest_id}/reveal")
def contest_reveal(request: Request, contest_id: int, principal: Annotated[Principal, Depends(SENIORS)],
                   step: Annotated[str, Form(max_length=20)]) -> Response:
    """Lift one reduction of the contested item's image; each step is its own audited request."""
    ctx = context(request)
    entry = _find_contest(ctx, contest_id, principal)
    if entry.status != ContestStatus.OPEN:
        raise HTTPException(409, "this contest is decided")
    target = REVEAL_STEPS.get(step)
    if target is None:
        raise HTTPException(422, f"unknown reveal step {step!r}; steps: {', '.join(REVEAL_STEPS)}")
    if principal.session_id is None:
        raise HTTPException(409, "reveals belong to a browser session; API tokens see the reduced image only")
    item_id = entry.review_item_id
    current = ctx.accounts.reveal_level(principal, item_id)
    if target > current + 1:
        raise HTTPException(409, "reveal one step at a time: unblur, then colour, then full size")
    if target > current:
        ctx.accounts.set_reveal_level(principal, item_id, int(target))
        record(ctx.store, principal.name, AuditAction.REVEAL, f"item:{item_id}", at=ctx.clock(), step=step,
               level=int(target), contest=contest_id, ip=client_ip(request))
    return RedirectResponse(f"/review/contests/{contest_id}#media", status_code=303)


@router.post("/review/contests/{contest_id}/decision")
def contest_decision(request: Request, contest_id: int, principal: Annotated[Principal, Depends(SENIORS)],
                     outcome: Annotated[str, Form(max_length=20)],
                     note: Annotated[str, Form(max_length=REASON_MAX)] = "") -> Response:
    """Uphold the classification (notices resume) or accept the contest (not CSAM, item withdrawn, allow-listed)."""
    ctx = context(request)
    entry = _find_contest(ctx, contest_id, principal)
    if outcome not in ("uphold", "accept"):
        raise HTTPException(422, "outcome is uphold or accept")
    text = note.strip() or None
    try:
        if entry.status != ContestStatus.OPEN:
            raise PortalRefusedError(f"this contest was already decided ({entry.status})")
        if outcome == "accept":
            # Review first: the reclassification it announces also accepts the contest in the notifier,
            # so a failure between the two calls leaves nothing undone.
            workflow(ctx).accept_contest(entry.review_item_id, contest_id, principal.name, note=text)
        decided = portal.decide_contest(
            ctx.store, contest_id, principal.name,
            ContestStatus.ACCEPTED if outcome == "accept" else ContestStatus.UPHELD, now=ctx.clock(), note=text)
    except (ReviewRefusedError, PortalRefusedError) as exc:
        raise HTTPException(409, exc.reason) from None
    except TransientError as exc:
        # Accepting commits before it announces: audit the attempt, whatever reached the bus.
        record(ctx.store, principal.name, PortalAction.CONTEST_DECISION, f"contest:{contest_id}", at=ctx.clock(),
               outcome=outcome, error=str(exc), ip=client_ip(request))
        raise
    record(ctx.store, principal.name, PortalAction.CONTEST_DECISION, f"contest:{contest_id}", at=ctx.clock(),
           outcome=outcome, status=decided.status, item=decided.review_item_id, notice_item=decided.notice_item_id,
           note=note.strip() or None, ip=client_ip(request))
    return RedirectResponse(f"/review?done=contest-{decided.status}", status_code=303)

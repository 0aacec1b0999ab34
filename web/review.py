"""Analyst review pages (top of the stack): the queue, the item page, stepwise reveals and decisions.

The decision logic lives in :mod:`review.workflow`; these routes only call it, render its state
and audit every view, reveal and decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.errors import TransientError
from crawler import sightings
from hashing.media import facts
from matcher.hashsets import entry_of, matches_of
from notifier import portal
from review.service import ItemView, item_view
from review.workflow import ESCALATED, Decided, DecisionOutcome, ReviewRefusedError, ReviewWorkflow
from web.audit import AuditAction, count_distinct_subjects, record
from web.auth import Principal, Role, client_ip, requires
from web.context import WebContext, context
from web.media import REVEAL_STEPS, MediaUnavailableError, RevealLevel, render_level
from web.templating import render

router = APIRouter(prefix="/review", include_in_schema=False)
REVIEWERS = requires(Role.ANALYST, Role.SENIOR_ANALYST)
SIGHTINGS_SHOWN = 50

DONE_MESSAGES = {
    DecisionOutcome.RECORDED: "Decision recorded; the item waits for another analyst.",
    DecisionOutcome.ESCALATED: "The assessments differ (or one could not assess): a senior analyst will decide.",
    DecisionOutcome.SETTLED: "Item settled.",
}


CONTEST_MESSAGES = {
    "contest-upheld": "Contest rejected: the classification stands and notices about the item resume.",
    "contest-accepted": "Contest accepted: the item is not CSAM, its notices are withdrawn, the media allow-listed.",
}
"""Flash messages after a senior analyst decides a provider's contest (web/provider.py)."""


def _done_message(done: str) -> str | None:
    if done in {o.value for o in DecisionOutcome}:
        return DONE_MESSAGES[DecisionOutcome(done)]
    return CONTEST_MESSAGES.get(done)


def workflow(ctx: WebContext) -> ReviewWorkflow:
    """The review workflow over the app's store, bus and settings."""
    return ReviewWorkflow(ctx.store, ctx.bus, ctx.settings.review, ctx.clock)


def _senior(principal: Principal) -> bool:
    return principal.has(Role.SENIOR_ANALYST)


@dataclass(frozen=True, slots=True)
class Wellbeing:
    """What the analyst has seen, and whether it is time for a break."""

    seen_today: int
    seen_since_break: int
    minutes_since_break: int
    break_due: bool


def wellbeing(ctx: WebContext, principal: Principal) -> Wellbeing:
    """Counts of items seen today and since the last break, and the break reminder."""
    now = ctx.clock()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    seen_today = count_distinct_subjects(ctx.store, principal.name, AuditAction.ITEM_VIEW, midnight)
    since = ctx.accounts.break_started(principal) or now
    # Views stamped at the very instant of the break came before it.
    seen_since = count_distinct_subjects(ctx.store, principal.name, AuditAction.ITEM_VIEW,
                                         since + timedelta(microseconds=1))
    minutes = max(0, int((now - since) / timedelta(minutes=1)))
    web = ctx.settings.web
    due = bool(web.break_after_items and seen_since >= web.break_after_items) or bool(
        web.break_after_minutes and minutes >= web.break_after_minutes
    )
    return Wellbeing(seen_today=seen_today, seen_since_break=seen_since, minutes_since_break=minutes, break_due=due)


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)], done: str = "") -> Response:
    """The analyst's queue, most urgent first."""
    ctx = context(request)
    entries = workflow(ctx).queue(principal.name, senior=_senior(principal))
    # Providers' contests of settled items wait for senior analysts only (web/provider.py decides them).
    contests = portal.contests(ctx.store) if _senior(principal) else []
    record(ctx.store, principal.name, AuditAction.QUEUE_VIEW, None, at=ctx.clock(), shown=len(entries),
           **({"contests": len(contests)} if contests else {}))
    message = _done_message(done)
    return render(request, "review_queue.html", principal, title="Review queue", entries=entries,
                  now=ctx.clock(), wellbeing=wellbeing(ctx, principal), message=message, contests=contests)


@router.get("/next")
def next_item(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)], done: str = "") -> Response:
    """Open the most urgent item of the queue (or the queue when it is empty)."""
    ctx = context(request)
    entries = workflow(ctx).queue(principal.name, senior=_senior(principal), limit=1)
    suffix = f"?done={done}" if _done_message(done) else ""
    if not entries:
        return RedirectResponse(f"/review{suffix}", status_code=303)
    return RedirectResponse(f"/review/items/{entries[0].item_id}{suffix}", status_code=303)


def _open_item(ctx: WebContext, principal: Principal, item_id: int) -> ItemView:
    """The item if it is in this analyst's queue; 404 otherwise (decided by them, settled, or not theirs)."""
    if not workflow(ctx).may_assess(item_id, principal.name, senior=_senior(principal)):
        raise HTTPException(404, "This item is not in your queue: it is settled, you decided it, "
                                 "or it waits for a senior analyst.")
    with ctx.store.session() as s:
        item = item_view(s, item_id)
    if item is None:
        raise HTTPException(404, "no such item")
    return item


def review_item(ctx: WebContext, item_id: int) -> ItemView | None:
    """One review item as the review pages show it (the contest pages too); None if there is none."""
    with ctx.store.session() as s:
        return item_view(s, item_id)


def _item_details(ctx: WebContext, item: ItemView) -> dict[str, Any]:
    with ctx.store.session() as s:
        media = facts(s, item.sha256)
        matches = matches_of(s, item.sha256)
        if not matches and item.best_entry_id is not None:
            entry = entry_of(s, item.best_entry_id)
            if entry is not None:
                matches = [(item.best_algorithm, item.best_distance, *entry)]
        rows, total = sightings.latest_of(s, item.sha256, SIGHTINGS_SHOWN)
    for row in rows:
        row["host"] = urlsplit(row["media_url"]).hostname or ""
    return {
        "media": media,
        "matches": [dict(zip(("algorithm", "distance", "hash_set", "label", "classification"), m, strict=True))
                    for m in matches],
        "sighting": rows[0] if rows else None,
        "other_sightings": rows[1:],
        "sightings_total": total,
    }


def _history(ctx: WebContext, principal: Principal, item: ItemView) -> list[tuple[datetime, str]]:
    events: list[tuple[datetime, str]] = [(item.created_at, "Queued for review by the matcher "
                                           f"({item.best_algorithm} distance {item.best_distance}).")]
    # Independence: first-level analysts never see each other's decisions; a senior analyst
    # settling a disagreement sees them all.
    if item.status == ESCALATED and _senior(principal):
        for a in workflow(ctx).assessments(item.id):
            where = f" ({a.jurisdiction})" if a.jurisdiction else ""
            events.append((a.decided_at, f"{a.analyst} assessed: {a.label}{where}."))
        events.append((events[-1][0], "Escalated to senior review."))
    elif item.status == ESCALATED:
        events.append((item.created_at, "Escalated to senior review."))
    return events


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(
    request: Request, item_id: int, principal: Annotated[Principal, Depends(REVIEWERS)], done: str = ""
) -> Response:
    """One item: reduced media, where it was seen, the match, its history and the decision form."""
    ctx = context(request)
    item = _open_item(ctx, principal, item_id)
    level = RevealLevel(ctx.accounts.reveal_level(principal, item_id))
    record(ctx.store, principal.name, AuditAction.ITEM_VIEW, f"item:{item_id}", at=ctx.clock(),
           ip=client_ip(request), level=int(level))
    next_step = next((name for name, lvl in REVEAL_STEPS.items() if lvl == level + 1), None)
    message = _done_message(done)
    return render(
        request, "review_item.html", principal, title=f"Review item {item_id}", item=item, level=int(level),
        next_step=next_step, scheme=ctx.settings.review.scheme, history=_history(ctx, principal, item),
        wellbeing=wellbeing(ctx, principal), message=message, escalated=item.status == ESCALATED,
        **_item_details(ctx, item),
    )


def reduced_media(ctx: WebContext, principal: Principal, item: ItemView, **audit: Any) -> Response:
    """An item's evidence image at the level this session revealed (reduced until then), the view audited.

    Shared by the analysts' item page and the senior analysts' contest page: both show one review item's
    media under the same reveal steps, never cached by the browser.
    """
    if not item.evidence_key:
        raise HTTPException(404, "no evidence kept for this item")
    try:
        data = ctx.blobs.get(item.evidence_key)
    except KeyError:
        raise HTTPException(404, "the evidence is missing from the blob store") from None
    level = RevealLevel(ctx.accounts.reveal_level(principal, item.id))
    web = ctx.settings.web
    try:
        shown = render_level(data, level, preview_px=web.preview_px, blur_radius=web.blur_radius,
                             max_pixels=web.max_image_pixels)
    except MediaUnavailableError as exc:
        raise HTTPException(422, str(exc)) from None
    record(ctx.store, principal.name, AuditAction.MEDIA_VIEW, f"item:{item.id}", at=ctx.clock(),
           level=int(level), width=shown.width, height=shown.height, **audit)
    return Response(shown.data, media_type=shown.content_type,
                    headers={"Cache-Control": "no-store", "Content-Disposition": "inline"})


@router.get("/items/{item_id}/media")
def item_media(request: Request, item_id: int, principal: Annotated[Principal, Depends(REVIEWERS)]) -> Response:
    """The item's image at the level this session revealed (blurred, greyscale and small until then)."""
    ctx = context(request)
    item = _open_item(ctx, principal, item_id)
    return reduced_media(ctx, principal, item)


@router.post("/items/{item_id}/reveal")
def reveal(
    request: Request,
    item_id: int,
    principal: Annotated[Principal, Depends(REVIEWERS)],
    step: Annotated[str, Form(max_length=20)],
) -> Response:
    """Lift one reduction (unblur, then colour, then full size); each step is its own audited request."""
    ctx = context(request)
    _open_item(ctx, principal, item_id)
    target = REVEAL_STEPS.get(step)
    if target is None:
        raise HTTPException(422, f"unknown reveal step {step!r}; steps: {', '.join(REVEAL_STEPS)}")
    if principal.session_id is None:
        raise HTTPException(409, "reveals belong to a browser session; API tokens see the reduced image only")
    current = ctx.accounts.reveal_level(principal, item_id)
    if target > current + 1:
        raise HTTPException(409, "reveal one step at a time: unblur, then colour, then full size")
    if target > current:
        ctx.accounts.set_reveal_level(principal, item_id, int(target))
        record(ctx.store, principal.name, AuditAction.REVEAL, f"item:{item_id}", at=ctx.clock(), step=step,
               level=int(target), ip=client_ip(request))
    return RedirectResponse(f"/review/items/{item_id}#media", status_code=303)


@router.post("/items/{item_id}/decision")
def decide(
    request: Request,
    item_id: int,
    principal: Annotated[Principal, Depends(REVIEWERS)],
    choice: Annotated[str, Form(max_length=40)],
    jurisdiction: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Record the analyst's independent decision; settle or escalate the item when it is due."""
    ctx = context(request)
    _open_item(ctx, principal, item_id)
    try:
        result: Decided = workflow(ctx).decide(item_id, principal.name, choice, jurisdiction or None,
                                               senior=_senior(principal))
    except ReviewRefusedError as exc:
        raise HTTPException(409, exc.reason) from None
    except TransientError as exc:
        # The decision may be stored while its announcement failed (the queue repairs that): audit the attempt.
        record(ctx.store, principal.name, AuditAction.DECISION, f"item:{item_id}", at=ctx.clock(), choice=choice,
               jurisdiction=jurisdiction or None, error=str(exc), ip=client_ip(request))
        raise
    record(ctx.store, principal.name, AuditAction.DECISION, f"item:{item_id}", at=ctx.clock(), choice=choice,
           jurisdiction=jurisdiction or None, outcome=str(result.outcome), classification=result.classification,
           notice_requests=result.notice_requests, inherited=list(result.inherited), ip=client_ip(request))
    return RedirectResponse(f"/review/next?done={result.outcome}", status_code=303)


@router.post("/break")
def take_break(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)]) -> Response:
    """The analyst took a break: restart the reminder."""
    ctx = context(request)
    ctx.accounts.take_break(principal)
    record(ctx.store, principal.name, AuditAction.BREAK, None, at=ctx.clock())
    return RedirectResponse("/review", status_code=303)

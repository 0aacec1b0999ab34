"""Analyst review pages (top of the stack): the queue, the item page, stepwise reveals and decisions.

The decision logic lives in :mod:`review.workflow`; these routes only call it, render its state
and audit every view, reveal and decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.errors import TransientError
from crawler import sightings
from hashing.media import facts
from matcher.hashsets import entry_of, matches_of
from notifier import portal
from review import orgs
from review.orgs import ForwardReason
from review.service import ItemView, item_view
from review.triage import ReviewKind
from review.workflow import ESCALATED, Decided, DecisionOutcome, ReviewRefusedError, ReviewWorkflow
from web.audit import AuditAction, record
from web.auth import Principal, Role, client_ip, requires
from web.context import WebContext, context
from web.forms import EMPTY, FORM_FIELD, FormRefusedError, FormState, form_page, sentence
from web.media import REVEAL_STEPS, MediaUnavailableError, RevealLevel, describe_level, render_level
from web.templating import render
from web.wellbeing import RevealPrefs, reveal_prefs, set_reveal_prefs, start_break, team, wellbeing

router = APIRouter(prefix="/review", include_in_schema=False)
REVIEWERS = requires(Role.ANALYST, Role.SENIOR_ANALYST)
SUPERVISORS = requires(Role.SENIOR_ANALYST, Role.ADMIN)
"""Who sees every analyst's exposure (there is no separate supervisor role: senior analysts and admins)."""
SIGHTINGS_SHOWN = 50

DONE_MESSAGES = {
    DecisionOutcome.RECORDED: "Decision recorded; the item waits for another analyst.",
    DecisionOutcome.ESCALATED: "The assessments differ (or one could not assess): a senior analyst will decide.",
    DecisionOutcome.SETTLED: "Item settled.",
    DecisionOutcome.REFERRED: "You could not assess it: the item stays open for another senior analyst.",
    DecisionOutcome.UNDONE: "Your decision was taken back: the item is yours to decide again.",
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
    return ReviewWorkflow(ctx.store, ctx.bus, ctx.settings.review, ctx.clock, blobs=ctx.blobs)


def org_workflow(ctx: WebContext, principal: Principal) -> ReviewWorkflow:
    """The workflow whose scheme is the caller's organisation's: the baseline plus its national categories."""
    with ctx.store.session() as s:
        scheme = orgs.scheme_for(s, principal.org_id, ctx.settings.review.scheme)
    return ReviewWorkflow(ctx.store, ctx.bus, ctx.settings.review.model_copy(update={"scheme": scheme}), ctx.clock,
                          blobs=ctx.blobs)


def _senior(principal: Principal) -> bool:
    return principal.has(Role.SENIOR_ANALYST)


def _held(request: Request, principal: Principal) -> Response | None:
    """The break page instead of an item while the analyst is on a break, or one is due and enforced."""
    ctx = context(request)
    state = wellbeing(ctx, principal)
    if not state.held:
        return None
    return render(request, "review_break.html", principal, status_code=423, title="Time for a break",
                  wellbeing=state, break_minutes=ctx.settings.web.break_minutes)


def _ours(ctx: WebContext, principal: Principal, item_id: int) -> bool:
    """Whether the review item is held by the caller's organisation."""
    with ctx.store.session() as s:
        return orgs.org_of_item(s, item_id) == principal.org_id


def undo_item(ctx: WebContext, principal: Principal) -> int | None:
    """The item of the analyst's last decision while they may still take it back, else None."""
    last = workflow(ctx).recent(principal.name, limit=1, org_id=principal.org_id)
    return last[0].item_id if last and last[0].undoable else None


def _kind(kind: str) -> ReviewKind | None:
    """The queue tab asked for: matches, triage items, or (anything else) all."""
    return ReviewKind(kind) if kind in {k.value for k in ReviewKind} else None


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)], done: str = "",
               kind: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The analyst's queue, most urgent first; ``kind`` shows one tab (matches, or reported media in triage)."""
    ctx = context(request)
    tab = _kind(kind)
    entries = workflow(ctx).queue(principal.name, senior=_senior(principal), kind=tab, org_id=principal.org_id)
    # Providers' contests of settled items wait for senior analysts only (web/provider.py decides them).
    contests = [c for c in portal.contests(ctx.store) if _ours(ctx, principal, c.review_item_id)] \
        if _senior(principal) else []
    record(ctx.store, principal.name, AuditAction.QUEUE_VIEW, None, at=ctx.clock(), shown=len(entries),
           **({"contests": len(contests)} if contests else {}), **({"kind": str(tab)} if tab else {}))
    message = _done_message(done)
    return render(request, "review_queue.html", principal, title="Review queue", entries=entries, kind=tab,
                  now=ctx.clock(), wellbeing=wellbeing(ctx, principal), message=message, contests=contests,
                  undo_item=undo_item(ctx, principal))


@router.get("/next")
def next_item(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)], done: str = "",
              kind: Annotated[str, Query(max_length=20)] = "") -> Response:
    """Open the most urgent item of the queue, or of one tab (or the queue when it is empty)."""
    ctx = context(request)
    held = _held(request, principal)
    if held is not None:
        return held
    tab = _kind(kind)
    entries = workflow(ctx).queue(principal.name, senior=_senior(principal), limit=1, kind=tab, org_id=principal.org_id)
    suffix = f"?done={done}" if _done_message(done) else ""
    if not entries:
        tab_query = f"kind={tab}" if tab else ""
        query = "&".join(q for q in (suffix.lstrip("?"), tab_query) if q)
        return RedirectResponse(f"/review?{query}" if query else "/review", status_code=303)
    return RedirectResponse(f"/review/items/{entries[0].item_id}{suffix}", status_code=303)


def _open_item(ctx: WebContext, principal: Principal, item_id: int) -> ItemView:
    """The item if it is in this analyst's queue; 404 otherwise (decided by them, settled, or not theirs).

    Another organisation's item is a 404 too: nobody outside it learns that it exists.
    """
    if not workflow(ctx).may_assess(item_id, principal.name, senior=_senior(principal), org_id=principal.org_id):
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
                matches = [(item.best_algorithm, item.best_distance, *entry, "")]
        rows, total = sightings.latest_of(s, item.sha256, SIGHTINGS_SHOWN)
    for row in rows:
        row["host"] = urlsplit(row["media_url"]).hostname or ""
    return {
        "media": media,
        "matches": [dict(zip(("algorithm", "distance", "hash_set", "label", "classification", "list_variant"), m,
                             strict=True))
                    for m in matches],
        "sighting": rows[0] if rows else None,
        "other_sightings": rows[1:],
        "sightings_total": total,
    }


def _history(ctx: WebContext, principal: Principal, item: ItemView) -> list[tuple[datetime, str]]:
    events: list[tuple[datetime, str]] = [(item.created_at, "Queued for triage: media of a reported page that "
                                           "matched no known list." if item.kind == ReviewKind.TRIAGE else
                                           "Queued for review by the matcher "
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


def shown_as(ctx: WebContext, principal: Principal, level: RevealLevel) -> str:
    """What the page says of the image at ``level``: the analyst's own preferences decide blur and greyscale."""
    prefs = reveal_prefs(ctx.store, principal.user_id)
    return describe_level(level, blur=prefs.blur, greyscale=prefs.greyscale)


def _item_screen(request: Request, principal: Principal, item: ItemView, form: FormState, message: str | None,
                 claimed_by: str | None) -> Response:
    ctx = context(request)
    level = RevealLevel(ctx.accounts.reveal_level(principal, item.id))
    next_step = next((name for name, lvl in REVEAL_STEPS.items() if lvl == level + 1), None)
    return render(
        request, "review_item.html", principal, status_code=form.status_code, title=f"Review item {item.id}",
        item=item, level=int(level), shown=shown_as(ctx, principal, level), next_step=next_step,
        scheme=org_workflow(ctx, principal).settings.scheme,
        history=_history(ctx, principal, item), wellbeing=wellbeing(ctx, principal), message=message,
        escalated=item.status == ESCALATED, form=form, note_max=ctx.settings.review.note_max_chars,
        claimed_by=claimed_by, undo_item=undo_item(ctx, principal), forward_to=_forward_to(ctx, principal),
        forward_reasons=list(ForwardReason), **_item_details(ctx, item),
    )


def _forward_to(ctx: WebContext, principal: Principal) -> list[tuple[int, str]]:
    """The organisations an item can be forwarded to (every one but the analyst's own)."""
    with ctx.store.session() as s:
        return [(o.id, o.name) for o in orgs.all_orgs(s) if o.id != principal.org_id]


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(
    request: Request, item_id: int, principal: Annotated[Principal, Depends(REVIEWERS)], done: str = ""
) -> Response:
    """One item: reduced media, where it was seen, the match, its history and the decision form.

    Viewing claims the item for a while (``[review] claim_minutes``): other analysts' queues skip it.
    """
    ctx = context(request)
    item = _open_item(ctx, principal, item_id)
    held = _held(request, principal)
    if held is not None:
        return held
    level = RevealLevel(ctx.accounts.reveal_level(principal, item_id))
    record(ctx.store, principal.name, AuditAction.ITEM_VIEW, f"item:{item_id}", at=ctx.clock(),
           ip=client_ip(request), level=int(level))
    claimed_by = workflow(ctx).claim(item_id, principal.name)
    return _item_screen(request, principal, item, EMPTY, _done_message(done), claimed_by)


def _decision_again(request: Request, form: FormState) -> Response:
    """The item page again after a refused decision: choice, jurisdiction and note kept, reveals as they were."""
    ctx = context(request)
    principal: Principal = request.state.principal
    item_id = int(request.path_params["item_id"])
    if not workflow(ctx).may_assess(item_id, principal.name, senior=_senior(principal), org_id=principal.org_id):
        message = form.problems.get(FORM_FIELD) or "This item is no longer in your queue."
        return render(request, "error.html", principal, status_code=409, title="Not recorded", message=message)
    item = review_item(ctx, item_id)
    if item is None:
        return render(request, "error.html", principal, status_code=404, title="Not found", message="no such item")
    return _item_screen(request, principal, item, form, None, None)


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
    prefs = reveal_prefs(ctx.store, principal.user_id)
    try:
        shown = render_level(data, level, preview_px=web.preview_px, blur_radius=web.blur_radius,
                             max_pixels=web.max_image_pixels, blur=prefs.blur, greyscale=prefs.greyscale)
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
    if wellbeing(ctx, principal).held:
        raise HTTPException(423, "you are on a break; the item is shown again after it")
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
@form_page(_decision_again)
def decide(
    request: Request,
    item_id: int,
    principal: Annotated[Principal, Depends(REVIEWERS)],
    choice: Annotated[str, Form(max_length=40)],
    jurisdiction: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    """Record the analyst's independent decision; settle or escalate the item when it is due.

    A refused decision comes back as the item page with what was chosen and typed kept and the
    reason beside its field.
    """
    ctx = context(request)
    _open_item(ctx, principal, item_id)
    try:
        result: Decided = org_workflow(ctx, principal).decide(item_id, principal.name, choice, jurisdiction or None,
                                               senior=_senior(principal), note=note)
    except ReviewRefusedError as exc:
        raise FormRefusedError({exc.field or FORM_FIELD: sentence(exc.reason)},
                               status_code=422 if exc.field else 409) from None
    except TransientError as exc:
        # The decision may be stored while its announcement failed (the queue repairs that): audit the attempt.
        record(ctx.store, principal.name, AuditAction.DECISION, f"item:{item_id}", at=ctx.clock(), choice=choice,
               jurisdiction=jurisdiction or None, error=str(exc), ip=client_ip(request))
        raise
    record(ctx.store, principal.name, AuditAction.DECISION, f"item:{item_id}", at=ctx.clock(), choice=choice,
           jurisdiction=jurisdiction or None, outcome=str(result.outcome), classification=result.classification,
           notice_requests=result.notice_requests, inherited=list(result.inherited), ip=client_ip(request),
           **({"note": note.strip()} if note.strip() else {}))
    return RedirectResponse(f"/review/next?done={result.outcome}", status_code=303)


def _mine(request: Request, principal: Principal, form: FormState) -> Response:
    ctx = context(request)
    return render(request, "review_mine.html", principal, status_code=form.status_code, title="My recent decisions",
                  decisions=workflow(ctx).recent(principal.name, org_id=principal.org_id), form=form, undo_item=None)


def _mine_again(request: Request, form: FormState) -> Response:
    return _mine(request, request.state.principal, form)


@router.get("/mine", response_class=HTMLResponse)
def my_decisions(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)]) -> Response:
    """The analyst's own recent decisions, newest first, with the undo of the last one while it is open."""
    ctx = context(request)
    record(ctx.store, principal.name, AuditAction.QUEUE_VIEW, None, at=ctx.clock(), page="mine")
    return _mine(request, principal, EMPTY)


@router.post("/undo")
@form_page(_mine_again)
def undo(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)],
         item_id: Annotated[int, Form()]) -> Response:
    """Take back one's own last decision while nobody else acted on its item; the item opens again."""
    ctx = context(request)
    try:
        workflow(ctx).undo(item_id, principal.name, org_id=principal.org_id)
    except ReviewRefusedError as exc:
        raise FormRefusedError({FORM_FIELD: sentence(exc.reason)}, status_code=409) from None
    record(ctx.store, principal.name, AuditAction.DECISION_UNDO, f"item:{item_id}", at=ctx.clock(),
           ip=client_ip(request))
    return RedirectResponse(f"/review/items/{item_id}?done={DecisionOutcome.UNDONE}", status_code=303)


@router.post("/break")
def take_break(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)]) -> Response:
    """Start a break (``[web] break_minutes`` long); pressing it again during the break changes nothing."""
    ctx = context(request)
    end = start_break(ctx, principal)
    record(ctx.store, principal.name, AuditAction.BREAK, None, at=ctx.clock(), until=end.isoformat())
    return RedirectResponse("/review", status_code=303)


@router.get("/team", response_class=HTMLResponse)
def team_page(request: Request, principal: Annotated[Principal, Depends(SUPERVISORS)]) -> Response:
    """Supervisors' view: each analyst's items seen and revealed today, time since their break, breaks running."""
    ctx = context(request)
    rows = team(ctx, principal.org_id)
    record(ctx.store, principal.name, AuditAction.TEAM_VIEW, None, at=ctx.clock(), shown=len(rows))
    return render(request, "review_team.html", principal, title="Team wellbeing", rows=rows)


def _prefs(request: Request, principal: Principal, form: FormState, message: str | None = None) -> Response:
    ctx = context(request)
    return render(request, "review_prefs.html", principal, status_code=form.status_code, title="My viewing settings",
                  prefs=reveal_prefs(ctx.store, principal.user_id), form=form, message=message)


@router.get("/preferences", response_class=HTMLResponse)
def prefs_page(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)], done: str = "") -> Response:
    """The analyst's own viewing settings: whether the reduced image starts blurred and greyscale."""
    return _prefs(request, principal, EMPTY, "Saved." if done == "saved" else None)


@router.post("/preferences")
@form_page(lambda request, form: _prefs(request, request.state.principal, form))
def save_prefs(request: Request, principal: Annotated[Principal, Depends(REVIEWERS)],
               blur: Annotated[str, Form(max_length=3)] = "",
               greyscale: Annotated[str, Form(max_length=3)] = "") -> Response:
    """Keep the analyst's viewing settings (audited)."""
    ctx = context(request)
    prefs = RevealPrefs(blur=blur == "on", greyscale=greyscale == "on")
    set_reveal_prefs(ctx.store, principal.user_id, prefs)
    record(ctx.store, principal.name, AuditAction.PREFERENCES, None, at=ctx.clock(), blur=prefs.blur,
           greyscale=prefs.greyscale)
    return RedirectResponse("/review/preferences?done=saved", status_code=303)

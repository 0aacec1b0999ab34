"""Organisations in the browser (top of the stack): admins manage them; analysts forward items; agreement rates.

The organisations, routing and forwarding live in :mod:`review.orgs`; these routes only call it,
render its state and audit every change. Every route answers a 404 for another organisation's
item, so nobody outside an organisation learns that one of its items exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.store import Store
from review import orgs
from review.orgs import ForwardReason, OrganisationError, OrgKind
from web.admin import ADMINS
from web.audit import AuditAction, record
from web.auth import Principal, client_ip
from web.context import context
from web.forms import EMPTY, FORM_FIELD, FormRefusedError, FormState, form_page, sentence
from web.review import REVIEWERS, SUPERVISORS
from web.templating import render

router = APIRouter(include_in_schema=False)


def own_item(store: Store, principal: Principal, item_id: int) -> None:
    """Refuse (404) an item that is not the caller's organisation's, as if it did not exist."""
    with store.session() as s:
        if orgs.org_of_item(s, item_id) != principal.org_id:
            raise HTTPException(404, "no such item")


def _countries(text: str) -> list[str]:
    return [c for c in text.replace(",", " ").split() if c]


def _categories(text: str) -> dict[str, str]:
    """``code=class`` pairs, one per line or comma separated."""
    out: dict[str, str] = {}
    for part in text.replace(",", "\n").splitlines():
        if not part.strip():
            continue
        code, sep, target = part.partition("=")
        if not sep:
            raise OrganisationError(f"a national category is code=class: {part.strip()!r}", field="categories")
        out[code.strip()] = target.strip()
    return out


def _orgs_page(request: Request, form: FormState, message: str | None = None) -> Response:
    ctx = context(request)
    principal: Principal = request.state.principal
    with ctx.store.session() as s:
        rows = orgs.all_orgs(s)
    return render(request, "admin_orgs.html", principal, status_code=form.status_code, title="Organisations",
                  orgs=rows, form=form, message=message)


@router.get("/admin/orgs", response_class=HTMLResponse)
def orgs_page(request: Request, principal: Annotated[Principal, Depends(ADMINS)], done: str = "") -> Response:
    """Every organisation with its countries, opt-in, categories and notice identity; the new-organisation form."""
    ctx = context(request)
    record(ctx.store, principal.name, AuditAction.ORGS_VIEW, None, at=ctx.clock())
    return _orgs_page(request, EMPTY, {"created": "Organisation created.", "opt": "Routing changed."}.get(done))


@router.post("/admin/orgs")
@form_page(_orgs_page)
def create_org(request: Request, principal: Annotated[Principal, Depends(ADMINS)],
               name: Annotated[str, Form(max_length=200)],
               jurisdiction: Annotated[str, Form(max_length=2000)] = "",
               categories: Annotated[str, Form(max_length=4000)] = "",
               notice_name: Annotated[str, Form(max_length=200)] = "",
               notice_email: Annotated[str, Form(max_length=200)] = "",
               notice_domain: Annotated[str, Form(max_length=200)] = "",
               opted_in: Annotated[str, Form(max_length=3)] = "") -> Response:
    """Add a hotline organisation (audited); a refusal comes back on the form with its reason."""
    ctx = context(request)
    try:
        with ctx.store.session() as s:
            org_id = orgs.create(s, name, kind=OrgKind.HOTLINE, jurisdiction=_countries(jurisdiction),
                                 opted_in=opted_in == "on", categories=_categories(categories),
                                 notice_name=notice_name, notice_email=notice_email, notice_domain=notice_domain)
    except OrganisationError as exc:
        raise FormRefusedError({exc.field or FORM_FIELD: sentence(str(exc))}) from None
    record(ctx.store, principal.name, AuditAction.ORG_CREATE, f"org:{org_id}", at=ctx.clock(), name=name,
           jurisdiction=_countries(jurisdiction), opted_in=opted_in == "on")
    return RedirectResponse("/admin/orgs?done=created", status_code=303)


@router.post("/admin/orgs/{org_id}/opt-in")
def opt_in(request: Request, org_id: int, principal: Annotated[Principal, Depends(ADMINS)],
           opted_in: Annotated[str, Form(max_length=3)] = "") -> Response:
    """Start or stop routing the organisation's countries' new items to it (audited)."""
    ctx = context(request)
    try:
        with ctx.store.session() as s:
            orgs.set_opted_in(s, org_id, opted_in == "on")
    except OrganisationError as exc:
        raise HTTPException(404, str(exc)) from None
    record(ctx.store, principal.name, AuditAction.ORG_OPT_IN, f"org:{org_id}", at=ctx.clock(),
           opted_in=opted_in == "on")
    return RedirectResponse("/admin/orgs?done=opt", status_code=303)


@router.post("/review/items/{item_id}/forward")
def forward_item(request: Request, item_id: int, principal: Annotated[Principal, Depends(REVIEWERS)],
                 to_org: Annotated[int, Form()], reason: Annotated[str, Form(max_length=40)],
                 note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Hand an open item of one's organisation to another (hosting moved, wrong jurisdiction); audited.

    The item leaves this organisation's queue at once; the analyst goes on to their next item.
    """
    ctx = context(request)
    own_item(ctx.store, principal, item_id)
    if reason not in {r.value for r in ForwardReason}:
        raise HTTPException(422, f"reason is one of {', '.join(r.value for r in ForwardReason)}")
    try:
        with ctx.store.session() as s:
            orgs.forward(s, item_id, from_org=principal.org_id, to_org=to_org, reason=ForwardReason(reason),
                         actor=principal.name, note=note)
    except OrganisationError as exc:
        raise HTTPException(409 if exc.field is None else 422, str(exc)) from None
    record(ctx.store, principal.name, AuditAction.FORWARD, f"item:{item_id}", at=ctx.clock(),
           from_org=principal.org_id, to_org=to_org, reason=reason, ip=client_ip(request))
    return RedirectResponse("/review/next", status_code=303)


@router.get("/review/agreement", response_class=HTMLResponse)
def agreement_page(request: Request, principal: Annotated[Principal, Depends(SUPERVISORS)]) -> Response:
    """How often two analysts of the caller's organisation agreed, overall and per category (quality review)."""
    ctx = context(request)
    with ctx.store.session() as s:
        rates = orgs.agreement_rates(s, principal.org_id)
        org = orgs.get(s, principal.org_id)
    record(ctx.store, principal.name, AuditAction.AGREEMENT_VIEW, None, at=ctx.clock(), org=principal.org_id)
    return render(request, "review_agreement.html", principal, title="Two-analyst agreement", rates=rates,
                  org=org)

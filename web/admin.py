"""Admin pages (top of the stack): the audit log with filters and exports, and user accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from notifier.providers import provider_names
from review import orgs
from review.orgs import OPERATOR_ORG
from web.audit import AuditAction, AuditFilter, export, page, record
from web.auth import AccountError, Principal, Role, client_ip, requires
from web.context import context
from web.forms import EMPTY, FORM_FIELD, FormRefusedError, FormState, form_page, sentence
from web.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False)
ADMINS = requires(Role.ADMIN)


def _day(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(422, f"{field} must be a date as YYYY-MM-DD") from None


def _filter(actor: str, action: str, subject: str, since: str, until: str) -> AuditFilter:
    end = _day(until, "until")
    return AuditFilter(actor=actor.strip() or None, action=action.strip() or None, subject=subject.strip() or None,
                       since=_day(since, "since"), until=end + timedelta(days=1) if end is not None else None)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    principal: Annotated[Principal, Depends(ADMINS)],
    actor: str = "",
    action: str = "",
    subject: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> Response:
    """The audit log, newest first, filtered by actor, action, subject and dates."""
    ctx = context(request)
    flt = _filter(actor, action, subject, since, until)
    size = ctx.settings.web.audit_page_size
    rows = page(ctx.store, flt, limit=size, before_id=before)
    # Reading the audit log is itself audited (after the query, so the page does not list its own view).
    record(ctx.store, principal.name, AuditAction.AUDIT_VIEW, None, at=ctx.clock(), filter=flt.as_detail())
    return render(request, "admin_audit.html", principal, title="Audit log", rows=rows,
                  form={"actor": actor, "action": action, "subject": subject, "since": since, "until": until},
                  actions=[a.value for a in AuditAction], older=rows[-1].id if len(rows) == size else None)


@router.get("/audit/export")
def audit_export(
    request: Request,
    principal: Annotated[Principal, Depends(ADMINS)],
    format: str = "csv",
    actor: str = "",
    action: str = "",
    subject: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    """Download the filtered audit log as CSV or JSON Lines (the download is audited first)."""
    if format not in ("csv", "jsonl"):
        raise HTTPException(422, "format must be csv or jsonl")
    ctx = context(request)
    flt = _filter(actor, action, subject, since, until)
    record(ctx.store, principal.name, AuditAction.AUDIT_EXPORT, None, at=ctx.clock(), format=format,
           filter=flt.as_detail(), ip=client_ip(request))
    stamp = ctx.clock().strftime("%Y%m%dT%H%M%SZ")
    media_type = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        export(ctx.store, flt, format),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="orbweaver-audit-{stamp}.{format}"',
                 "Cache-Control": "no-store"},
    )


def _users(request: Request, principal: Principal | None, form: FormState) -> Response:
    ctx = context(request)
    with ctx.store.session() as s:
        providers = provider_names(s)
        organisations = [(o.id, o.name) for o in orgs.all_orgs(s)]
    return render(request, "admin_users.html", principal, status_code=form.status_code, title="Users",
                  users=ctx.accounts.list_users(), roles=[r.value for r in Role], providers=providers, form=form,
                  locked=ctx.accounts.locked_users(), orgs=organisations)


def _users_again(request: Request, form: FormState) -> Response:
    return _users(request, getattr(request.state, "principal", None), form)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, principal: Annotated[Principal, Depends(ADMINS)]) -> Response:
    """Every account, and a form to create one."""
    ctx = context(request)
    record(ctx.store, principal.name, AuditAction.USERS_VIEW, None, at=ctx.clock())
    return _users(request, principal, EMPTY)


@router.post("/users")
@form_page(_users_again)
def create_user(
    request: Request,
    principal: Annotated[Principal, Depends(ADMINS)],
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[list[str], Form()],
    provider_id: Annotated[str, Form(max_length=20)] = "",
    org_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Create an account (audited); a refused one comes back as the form, values kept, reason beside the field."""
    ctx = context(request)
    if provider_id.strip() and not provider_id.strip().isdigit():
        raise FormRefusedError({"provider_id": "Choose a provider from the list."})
    if org_id.strip() and not org_id.strip().isdigit():
        raise FormRefusedError({"org_id": "Choose an organisation from the list."})
    provider = int(provider_id) if provider_id.strip() else None
    try:
        ctx.accounts.create_user(name, password, role, actor=principal.name, provider_id=provider,
                                 org_id=int(org_id) if org_id.strip() else OPERATOR_ORG)
    except AccountError as exc:
        raise FormRefusedError({exc.field or FORM_FIELD: sentence(exc.reason)}) from None
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/disable")
def disable_user(request: Request, user_id: int, principal: Annotated[Principal, Depends(ADMINS)]) -> Response:
    """Disable an account: its sessions end and its tokens are revoked (audited)."""
    ctx = context(request)
    target = next((u for u in ctx.accounts.list_users() if u.id == user_id), None)
    if target is None:
        raise HTTPException(404, "no such user")
    if target.id == principal.user_id:
        raise HTTPException(409, "you cannot disable your own account")
    ctx.accounts.disable_user(target.name, actor=principal.name)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/unlock")
def unlock_user(request: Request, user_id: int, principal: Annotated[Principal, Depends(ADMINS)]) -> Response:
    """Lift an account's sign-in limits (audited); its password is unchanged."""
    ctx = context(request)
    target = next((u for u in ctx.accounts.list_users() if u.id == user_id), None)
    if target is None:
        raise HTTPException(404, "no such user")
    ctx.accounts.unlock(target.name, actor=principal.name)
    return RedirectResponse("/admin/users", status_code=303)

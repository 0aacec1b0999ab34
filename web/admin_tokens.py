"""API tokens in the browser (top of the stack): admins issue, list and revoke them one by one.

The same :class:`~web.auth.Accounts` functions as ``orbweaver token create`` do the work; a new
token's secret is shown once, on the page that created it, and never stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.admin import ADMINS
from web.auth import AccountError, Principal
from web.context import context
from web.templating import render

router = APIRouter(prefix="/admin/tokens", include_in_schema=False)


def _page(request: Request, principal: Principal, *, status_code: int = 200, error: str | None = None,
          form: dict[str, Any] | None = None, secret: str | None = None) -> Response:
    ctx = context(request)
    users = [u.name for u in ctx.accounts.list_users() if not u.disabled]
    return render(request, "admin_tokens.html", principal, status_code=status_code, title="API tokens",
                  tokens=ctx.accounts.list_tokens(), users=users, now=ctx.clock(), error=error, secret=secret,
                  form=form or {"user": "", "name": "", "expires_days": ""})


@router.get("", response_class=HTMLResponse)
def tokens_page(request: Request, principal: Annotated[Principal, Depends(ADMINS)]) -> Response:
    """Every API token (never a secret), with a form to issue one and a revoke button for each live one."""
    return _page(request, principal)


@router.post("", response_class=HTMLResponse)
def create_token(
    request: Request,
    principal: Annotated[Principal, Depends(ADMINS)],
    user: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    expires_days: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    """Issue a token (audited) and show its secret this once; a bad form comes back filled in, with the reason."""
    ctx = context(request)
    form = {"user": user, "name": name, "expires_days": expires_days}
    if not user.strip():
        return _page(request, principal, status_code=422, form=form, error="Choose whose token it is.")
    if not name.strip():
        return _page(request, principal, status_code=422, form=form,
                     error="Give the token a name that says where it is used, e.g. the script's name.")
    days: int | None = None
    if expires_days.strip():
        if not expires_days.strip().isdigit():
            return _page(request, principal, status_code=422, form=form,
                         error="Lifetime is a whole number of days, or empty for no expiry.")
        days = int(expires_days)
    try:
        secret = ctx.accounts.create_token(user.strip(), name.strip(), actor=principal.name, expires_days=days)
    except AccountError as exc:
        return _page(request, principal, status_code=422, form=form, error=exc.reason)
    return _page(request, principal, status_code=201, secret=secret)


@router.post("/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, principal: Annotated[Principal, Depends(ADMINS)]) -> Response:
    """Revoke one token at once (audited); its owner's other tokens keep working."""
    try:
        context(request).accounts.revoke_token(token_id, actor=principal.name)
    except AccountError as exc:
        return _page(request, principal, status_code=409, error=exc.reason)
    return RedirectResponse("/admin/tokens#tokens", status_code=303)

"""One account in the browser (top of the stack): admins re-enable it, reset its password and change its roles.

The list and the new-user form are on ``/admin/users`` (:mod:`web.admin`); this page holds what
is done to one existing account, each through :class:`~web.auth.Accounts` and audited there. A
failed change comes back on the same page with the reason next to its form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.admin import ADMINS
from web.auth import AccountError, Principal, Role
from web.context import context
from web.templating import render

router = APIRouter(prefix="/admin/users", include_in_schema=False)

DONE = {"enabled": "The account is enabled again.", "password": "The new password is set; the account's "
        "sessions have ended.", "roles": "The roles are changed; they apply from the account's next request."}


def _page(request: Request, principal: Principal, user_id: int, *, status_code: int = 200,
          errors: dict[str, str] | None = None, done: str = "") -> Response:
    ctx = context(request)
    user = next((u for u in ctx.accounts.list_users() if u.id == user_id), None)
    if user is None:
        raise HTTPException(404, "no such user")
    return render(request, "admin_user.html", principal, status_code=status_code, title=f"User {user.name}",
                  user=user, roles=[r.value for r in Role if (r is Role.PROVIDER) == (user.provider_id is not None)],
                  errors={"enable": "", "password": "", "roles": "", **(errors or {})},
                  message=DONE.get(done), locked=user.name in ctx.accounts.locked_users())


@router.get("/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: int, principal: Annotated[Principal, Depends(ADMINS)],
              done: str = "") -> Response:
    """One account: its status and roles, with the forms that change them."""
    return _page(request, principal, user_id, done=done)


@router.post("/{user_id}/enable")
def enable_user(request: Request, user_id: int, principal: Annotated[Principal, Depends(ADMINS)]) -> Response:
    """Re-enable a disabled account (audited)."""
    try:
        context(request).accounts.enable_user(user_id, actor=principal.name)
    except AccountError as exc:
        return _page(request, principal, user_id, status_code=409, errors={"enable": exc.reason})
    return RedirectResponse(f"/admin/users/{user_id}?done=enabled", status_code=303)


@router.post("/{user_id}/password")
def reset_password(request: Request, user_id: int, principal: Annotated[Principal, Depends(ADMINS)],
                   password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    """Set a new password for the account; its sessions end (audited, never the password)."""
    try:
        context(request).accounts.reset_password(user_id, password, actor=principal.name)
    except AccountError as exc:
        return _page(request, principal, user_id, status_code=422, errors={"password": exc.reason})
    return RedirectResponse(f"/admin/users/{user_id}?done=password", status_code=303)


@router.post("/{user_id}/roles")
def set_roles(request: Request, user_id: int, principal: Annotated[Principal, Depends(ADMINS)],
              role: Annotated[list[str] | None, Form()] = None) -> Response:
    """Change the account's roles (audited); an admin cannot take the admin role from their own account."""
    chosen = role or []
    if user_id == principal.user_id and Role.ADMIN.value not in chosen:
        return _page(request, principal, user_id, status_code=409,
                     errors={"roles": "You cannot take the admin role from your own account."})
    if not chosen:
        return _page(request, principal, user_id, status_code=422, errors={"roles": "Choose at least one role."})
    try:
        context(request).accounts.set_roles(user_id, chosen, actor=principal.name)
    except AccountError as exc:
        return _page(request, principal, user_id, status_code=422, errors={"roles": exc.reason})
    return RedirectResponse(f"/admin/users/{user_id}?done=roles", status_code=303)

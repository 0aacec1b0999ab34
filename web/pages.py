"""The web app's own pages (top of the stack): home, sign-in, sign-out and the health check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from web.audit import AuditAction, record
from web.auth import (
    CSRF_FIELD,
    DEVICE_COOKIE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Principal,
    Role,
    SignInRefusedError,
    client_ip,
    cookie_secure,
    form_token,
    form_token_ok,
    public,
    requires,
    safe_next,
    set_form_token,
)
from web.context import context
from web.forms import FormState, form_page
from web.templating import render

router = APIRouter(include_in_schema=False)

ANY_ROLE = requires(*Role)


@router.get("/healthz", dependencies=[Depends(public("liveness probe; says nothing but ok"))])
def healthz() -> JSONResponse:
    """Liveness probe."""
    return JSONResponse({"status": "ok"})


@router.get("/", response_class=HTMLResponse)
def home(request: Request, principal: Annotated[Principal, Depends(ANY_ROLE)]) -> HTMLResponse:
    """What the signed-in user can do."""
    return render(request, "home.html", principal, title="orbweaver")


def _login_page(request: Request, next_url: str, *, error: str | None = None, status_code: int = 200,
                name: str = "") -> Response:
    ctx = context(request)
    token = form_token(request, LOGIN_COOKIE)
    response = render(request, "login.html", None, status_code=status_code, title="Sign in", login_csrf=token,
                      next_url=safe_next(next_url), error=error, user_name=name)
    set_form_token(response, request, ctx.settings.web, LOGIN_COOKIE, token, path="/login")
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public("the sign-in form"))])
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return _login_page(request, next)


def _login_again(request: Request, form: FormState) -> Response:
    """The sign-in form again after a field was refused (left out, too long); the name kept, never the password."""
    error = next(iter(form.problems.values()), None)
    return _login_page(request, form.value("next", "/"), error=error, status_code=form.status_code,
                       name=form.value("name"))


@router.post("/login", dependencies=[Depends(public("signing in"))])
@form_page(_login_again)
def login(
    request: Request,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password (with per-account and per-address lockout) and open a session."""
    ctx = context(request)
    if not form_token_ok(request, LOGIN_COOKIE, csrf_token):
        return _login_page(request, next, error="The form expired; please sign in again.", status_code=403)
    ip = client_ip(request)
    try:
        signed = ctx.accounts.sign_in(name, password, ip, request.cookies.get(DEVICE_COOKIE))
    except SignInRefusedError as exc:
        record(ctx.store, "anonymous", AuditAction.SIGN_IN_FAILED, f"user:{name}", at=ctx.clock(), ip=ip,
               locked=exc.locked)
        return _login_page(request, next, error=exc.reason, status_code=429 if exc.locked else 401, name=name)
    record(ctx.store, signed.principal.name, AuditAction.SIGN_IN, f"user:{signed.principal.name}", at=ctx.clock(),
           ip=ip)
    response = RedirectResponse(safe_next(next), status_code=303)
    settings = ctx.settings.web
    response.set_cookie(SESSION_COOKIE, signed.token, max_age=settings.session_max_hours * 3600, path="/",
                        httponly=True, samesite=settings.cookie_samesite, secure=cookie_secure(request, settings))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    if signed.device is not None:
        # Only the sign-in form reads it; it proves nothing by itself (the password is still asked).
        response.set_cookie(DEVICE_COOKIE, signed.device, max_age=settings.login_device_days * 86400, path="/login",
                            httponly=True, samesite="strict", secure=cookie_secure(request, settings))
    return response


@router.post("/logout")
def logout(request: Request, principal: Annotated[Principal, Depends(ANY_ROLE)]) -> Response:
    """End the session."""
    ctx = context(request)
    if principal.session_id is not None:
        ctx.accounts.sign_out(principal.session_id)
    record(ctx.store, principal.name, AuditAction.SIGN_OUT, f"user:{principal.name}", at=ctx.clock(),
           ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite=ctx.settings.web.cookie_samesite,
                           secure=cookie_secure(request, ctx.settings.web))
    return response

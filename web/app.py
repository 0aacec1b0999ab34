"""The web app (top of the stack): one FastAPI application for analysts, operators, admins and providers.

``create_app`` wires the shared infrastructure, the routers, the access rules (every route
declares one; see :mod:`web.auth`), security headers and error pages. ``orbweaver serve`` runs
it under uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.blobs import BlobStore, open_blobs
from core.bus import Bus, open_bus
from core.errors import TransientError
from core.messages import utcnow
from core.store import Store
from web import (
    admin,
    admin_tokens,
    admin_users,
    api,
    apidocs,
    dashboard,
    feeds,
    forms,
    hashlists,
    orgs,
    pages,
    provider,
    providers_admin,
    reports,
    review,
    shield,
    survivor,
)
from web.auth import (
    AccessDeniedError,
    Accounts,
    NotAuthenticatedError,
    check_access_rules,
    declare_public,
    wants_html,
)
from web.context import AppSettings, Clock, WebContext
from web.csp import CONTENT_SECURITY_POLICY
from web.limits import BodyLimits
from web.templating import STATIC, make_templates, render

SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response, errors and static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _principal(request: Request) -> Any:
    return getattr(request.state, "principal", None)


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticatedError)
    async def not_authenticated(request: Request, exc: NotAuthenticatedError) -> Response:
        if wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return JSONResponse({"detail": "authentication required"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(AccessDeniedError)
    async def access_denied(request: Request, exc: AccessDeniedError) -> Response:
        if wants_html(request):
            return render(request, "error.html", _principal(request), status_code=403, title="Not allowed",
                          message=exc.reason)
        return JSONResponse({"detail": exc.reason}, status_code=403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_html(request):
            return render(request, "error.html", _principal(request), status_code=exc.status_code,
                          title=f"Error {exc.status_code}", message=str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(TransientError)
    async def transient(request: Request, exc: TransientError) -> Response:
        # A locked or unreachable store or bus: nothing was lost, the same request may succeed shortly.
        message = f"temporarily unavailable, try again: {exc}"
        if wants_html(request):
            return render(request, "error.html", _principal(request), status_code=503, title="Try again",
                          message=message)
        return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if wants_html(request):
            problems = forms.plain_problems(list(exc.errors()), forms.MISSING)
            return await _form_again(request, problems, 422)
        return JSONResponse({"detail": api.problems(exc)}, status_code=422)

    @app.exception_handler(forms.FormRefusedError)
    async def form_refused(request: Request, exc: forms.FormRefusedError) -> Response:
        if wants_html(request):
            return await _form_again(request, exc.problems, exc.status_code)
        return JSONResponse({"detail": exc.problems}, status_code=exc.status_code)

    async def _form_again(request: Request, problems: dict[str, str], status_code: int) -> Response:
        # A browser's form comes back drawn again, values kept, each message beside its field; a route
        # without a form (a bad address) gets the messages in words, without field paths.
        page = forms.page_for(request)
        if page is not None:
            return page(request, await forms.state(request, problems, status_code))
        message = " ".join(f"{name.replace('_', ' ')}: {text}" if name != forms.FORM_FIELD else text
                           for name, text in problems.items())
        return render(request, "error.html", _principal(request), status_code=status_code,
                      title="Not understood", message=message)


def create_app(
    settings: AppSettings,
    *,
    store: Store | None = None,
    bus: Bus | None = None,
    blobs: BlobStore | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the web app.

    Args:
        settings: orbweaver's settings (any object with ``core``, ``matcher``, ``review`` and ``web``).
        store: The shared store; opened (and migrated) from ``settings.core`` when None.
        bus: The bus decisions are published on; opened from ``settings.core`` when None.
        blobs: The matched-media store; opened from ``settings.core`` when None.
        clock: Current UTC time (tests inject one for sessions, lockouts and break reminders).

    Raises:
        RuntimeError: If a route declares no access rule.

    """
    core = settings.core
    opened: list[Any] = []
    if store is None:
        core.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(core.store_url())
        store.migrate()
        opened.append(store.dispose)
    if bus is None:
        bus = open_bus(core.bus_url(), client_id="orbweaver-web")
        opened.append(bus.close)
    if blobs is None:
        blobs = open_blobs(core.blobs_url(), s3_endpoint_url=core.s3_endpoint_url)
    clock = clock or utcnow

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for close in opened:
            close()

    app = FastAPI(
        title="orbweaver",
        summary="Review, operation and hash-check API of orbweaver.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.ctx = WebContext(
        settings=settings,
        store=store,
        bus=bus,
        blobs=blobs,
        clock=clock,
        templates=make_templates(),
        accounts=Accounts(store, settings.web, clock),
    )
    # Added first so it runs inside SecurityHeaders: its own 413 answers carry the headers too.
    app.add_middleware(BodyLimits, web=settings.web)
    app.add_middleware(SecurityHeaders)
    _install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    declare_public(app, "/static", "stylesheet and keyboard-shortcut script; no data")
    declare_public(app, "/openapi.json", "the API's description for integrators; no data")
    for router in (pages.router, review.router, admin.router, provider.router, api.router, shield.router,
                   dashboard.router, feeds.router, apidocs.router, admin_tokens.router, admin_users.router,
                   hashlists.router, providers_admin.router, survivor.router, reports.router, reports.api_router,
                   orgs.router):
        app.include_router(router)
    api.describe_limits(app, settings.web)
    check_access_rules(app)
    return app

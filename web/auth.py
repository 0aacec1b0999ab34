"""Who may use the web app (top of the stack): roles, principals, sessions, API tokens, CSRF, sign-in limits.

The contract every route follows (the API and dashboard routers too)::

    from fastapi import Depends
    from web.auth import Principal, Role, public, requires

    @router.get("/v1/thing")
    def thing(principal: Principal = Depends(requires(Role.OPERATOR, Role.ADMIN))) -> ...: ...

    @router.get("/login", dependencies=[Depends(public("the sign-in form"))])
    def login_form() -> ...: ...

* ``requires(*roles)`` resolves the caller and returns a :class:`Principal` (user id, name, roles,
  provider id, ``via`` = ``"session"`` or ``"token"``). A caller with none of ``roles`` gets 403.
* Credentials: the ``ow_session`` cookie (browsers; server-side session with idle and absolute
  expiry), or ``Authorization: Bearer <token>`` (API tokens from ``orbweaver token create``,
  stored as SHA-256, shown once), or the same token as HTTP Basic with the token's id as user name
  (``Authorization: Basic base64(<id>:<token>)``, what Arachnid Shield clients send).
* Anonymous callers get 401 (JSON, ``WWW-Authenticate: Bearer``), except browsers asking for a
  page outside ``/v1/``, who are redirected (303) to ``/login?next=…``.
* CSRF: a session caller's POST/PUT/PATCH/DELETE must carry the session's synchronizer token as
  form field ``csrf_token`` or header ``X-CSRF-Token``, else 403. Bearer callers are exempt
  (a browser never attaches that header by itself). Templates get the token as ``csrf_token``.
* Every route declares its rule through exactly these dependencies; :func:`access_rule` reads
  it back and :func:`check_access_rules` (run by ``create_app``) refuses to start an app with a
  route that has none. Routes that are not FastAPI routes (static files, ``/openapi.json``) are
  declared with :func:`declare_public`. ``tests/unit/web/test_access_rules.py`` walks every
  route of the app, so new routers are covered without touching the test.
* A ``provider`` user is bound to one provider id and must only ever be shown that provider's data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from math import ceil
from typing import Annotated, Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import delete, func, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from core.errors import PermanentError
from core.store import Store
from core.store.tables.web import ApiToken, LoginDevice, LoginFailure, WebSession, WebUser
from notifier.providers import provider_exists
from review import orgs
from review.orgs import OPERATOR_ORG
from web.audit import AuditAction, record
from web.context import Clock, context
from web.settings import WebSettings

SESSION_COOKIE = "ow_session"
DEVICE_COOKIE = "ow_device"
"""Remembers that this browser signed in to an account before: its sign-in limit is its own."""
LOGIN_COOKIE = "ow_login"
"""Short-lived cookie holding the sign-in form's CSRF token (double submit: there is no session yet)."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PREFIX = "owt_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIXES = ("/v1/", "/stopncii/v1/", "/feeds/v1/")
"""Paths whose anonymous callers get 401 even from a browser (no sign-in redirect)."""

_BEARER = HTTPBearer(auto_error=False, description="An API token from `orbweaver token create`.")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,199}")
MIN_PASSWORD = 12


class Role(StrEnum):
    """What a user may do. Values are storage keys: never rename one."""

    ADMIN = "admin"
    OPERATOR = "operator"
    ANALYST = "analyst"
    SENIOR_ANALYST = "senior_analyst"
    PROVIDER = "provider"
    HASH_CHECK = "hash_check"
    """An industry member's account: may call the hash-check API (``/v1/hashes``, ``/v1/media``) with a token."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in caller of one request."""

    user_id: int
    name: str
    roles: frozenset[Role]
    provider_id: int | None
    via: Literal["session", "token"]
    session_id: str | None = None
    """The server-side session's id (``via == "session"`` only)."""
    csrf_token: str | None = None
    """The session's synchronizer token, for forms (``via == "session"`` only)."""
    org_id: int = OPERATOR_ORG
    """The organisation the user works in: they see its review items only (``review.orgs``)."""

    def has(self, *roles: Role) -> bool:
        """Whether the caller holds any of ``roles``."""
        return bool(self.roles.intersection(roles))


class NotAuthenticatedError(Exception):
    """No valid session or token came with the request."""


class AccessDeniedError(Exception):
    """The caller is known but may not do this (wrong role, bad CSRF token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccountError(PermanentError):
    """An account operation that cannot be done as asked (bad name, short password, unknown user...).

    ``field`` names the form field the reason is about (``name``, ``password``, ``role``,
    ``provider_id``), so the admin page can show it beside that field; None when it is about no one field.
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


class SignInRefusedError(Exception):
    """A sign-in that failed; ``locked`` when a lockout, not the password, refused it."""

    def __init__(self, reason: str, *, locked: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.locked = locked


# ---------------------------------------------------------------------------------------------------------------
# Route rules


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Who may use one route: the roles, or nobody-in-particular with the reason it is public."""

    roles: frozenset[Role]
    public_reason: str | None = None

    @property
    def public(self) -> bool:
        """Whether anonymous callers may use the route."""
        return self.public_reason is not None


class RoleGate:
    """The dependency :func:`requires` returns: resolves the caller, checks roles and CSRF."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.rule = AccessRule(roles=roles)

    async def __call__(
        self, request: Request, _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None
    ) -> Principal:
        """Resolve the caller of ``request`` or refuse it (``_bearer`` only documents the scheme in OpenAPI)."""
        ctx = context(request)
        principal = await run_in_threadpool(ctx.accounts.authenticate, request)
        if principal is None:
            raise NotAuthenticatedError()
        if not principal.roles & self.rule.roles:
            raise AccessDeniedError("your role may not use this page")
        if request.method not in SAFE_METHODS and principal.via == "session":
            await check_csrf(request, principal.csrf_token)
        request.state.principal = principal
        return principal


class PublicGate:
    """The dependency :func:`public` returns: lets anyone in, but records why the route is public."""

    def __init__(self, reason: str) -> None:
        self.rule = AccessRule(roles=frozenset(), public_reason=reason)

    async def __call__(self) -> None:
        """Admit the request."""


def requires(*roles: Role) -> RoleGate:
    """A dependency admitting callers with any of ``roles`` and returning their :class:`Principal`."""
    if not roles:
        raise ValueError("requires() needs at least one role; use public(reason) for open routes")
    return RoleGate(frozenset(Role(r) for r in roles))


def public(reason: str) -> PublicGate:
    """A dependency that marks a route as open to anonymous callers, with the reason."""
    if not reason.strip():
        raise ValueError("a public route needs a reason")
    return PublicGate(reason)


def declare_public(app: FastAPI, path: str, reason: str) -> None:
    """Declare a non-FastAPI route (a static mount, the OpenAPI document) open to anyone."""
    if not reason.strip():
        raise ValueError("a public route needs a reason")
    _public_paths(app)[path] = reason


def _public_paths(app: FastAPI) -> dict[str, str]:
    paths: dict[str, str] | None = getattr(app.state, "public_paths", None)
    if paths is None:
        paths = {}
        app.state.public_paths = paths
    return paths


@dataclass(frozen=True, slots=True)
class RouteView:
    """One route as served: its full path, methods, the route object and its resolved dependencies."""

    path: str
    methods: frozenset[str]
    route: BaseRoute
    dependant: Dependant | None
    """FastAPI's dependency tree with every router and include level merged (None for non-FastAPI routes)."""


def routes(app: FastAPI) -> list[RouteView]:
    """Every route the app serves, whatever router included it and however FastAPI stores inclusions."""
    out: list[RouteView] = []
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.16x flattens included routers into app.routes
        for route in app.routes:
            dependant = route.dependant if isinstance(route, APIRoute) else None
            out.append(RouteView(path=str(getattr(route, "path", "")),
                                 methods=frozenset(getattr(route, "methods", None) or ()), route=route,
                                 dependant=dependant))
        return out
    for rc in iter_route_contexts(app.routes):
        original = rc.original_route
        dependant = getattr(rc, "dependant", None) if isinstance(original, APIRoute) else None
        out.append(RouteView(path=str(rc.path or getattr(original, "path", "")), methods=frozenset(rc.methods or ()),
                             route=original, dependant=dependant if isinstance(dependant, Dependant) else None))
    return out


def access_rule(app: FastAPI, view: RouteView) -> AccessRule | None:
    """The rule a route declared, or None if it declared none (a defect)."""
    if view.dependant is not None:
        rules: list[AccessRule] = []
        pending = list(view.dependant.dependencies)
        while pending:
            dep = pending.pop()
            if isinstance(dep.call, RoleGate | PublicGate):
                rules.append(dep.call.rule)
            pending.extend(dep.dependencies)
        if not rules:
            return None
        # Several gates on one route: every one of them must admit the caller.
        role_rules = [r for r in rules if not r.public]
        if not role_rules:
            return rules[0]
        roles = role_rules[0].roles
        for r in role_rules[1:]:
            roles = roles & r.roles
        return AccessRule(roles=roles)
    path = view.route.path if isinstance(view.route, Mount) else view.path
    reason = _public_paths(app).get(path)
    return AccessRule(roles=frozenset(), public_reason=reason) if reason is not None else None


def check_access_rules(app: FastAPI) -> None:
    """Refuse an app with any route that does not declare who may use it.

    Raises:
        RuntimeError: Naming every such route.

    """
    missing = [v.path or repr(v.route) for v in routes(app) if access_rule(app, v) is None]
    if missing:
        raise RuntimeError(f"routes without an access rule (use requires(...) or public(...)): {missing}")


async def check_csrf(request: Request, expected: str | None) -> None:
    """Compare the request's synchronizer token with ``expected``; refuse a missing or wrong one."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise AccessDeniedError("missing or wrong CSRF token; reload the page and try again")


# ---------------------------------------------------------------------------------------------------------------
# Accounts


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class UserInfo:
    """One account as listed to admins (never its password hash)."""

    id: int
    name: str
    roles: list[str]
    provider_id: int | None
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    org_id: int = OPERATOR_ORG


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """One API token as listed to admins: its name and first characters, never the secret or its hash."""

    id: int
    user_name: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def live(self, now: datetime) -> bool:
        """Whether the token still opens the API."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: the cookie's secret (given to the browser only) and the session's CSRF token."""

    token: str
    session_id: str
    csrf_token: str
    principal: Principal
    device: str | None = None
    """A new device cookie for this browser (None when it already had a valid one)."""


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise AccountError(
            f"invalid user name {name!r}: 1-200 letters, digits, . _ @ - starting with a letter or digit",
            field="name",
        )
    return name


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Roles from their names.

    Raises:
        AccountError: On an unknown name or none at all.

    """
    out: set[Role] = set()
    for v in values:
        try:
            out.add(Role(v.strip().lower().replace("-", "_")))
        except ValueError:
            raise AccountError(f"unknown role {v!r}; known: {', '.join(r.value for r in Role)}",
                               field="role") from None
    if not out:
        raise AccountError("a user needs at least one role", field="role")
    return frozenset(out)


class Accounts:
    """Users, passwords, sessions, API tokens and sign-in limits, in the shared store."""

    def __init__(self, store: Store, settings: WebSettings, clock: Clock, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.hasher = hasher or PasswordHasher(time_cost=settings.argon2_time_cost,
                                               memory_cost=settings.argon2_memory_kib,
                                               parallelism=settings.argon2_parallelism)
        # Verified against when the user does not exist, so both cases take the same time.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    # --- users -------------------------------------------------------------------------------------------------

    def create_user(
        self, name: str, password: str, roles: Iterable[str], *, actor: str, provider_id: int | None = None,
        org_id: int = OPERATOR_ORG,
    ) -> int:
        """Create an account and return its id.

        Raises:
            AccountError: On a bad name, a short password, unknown roles, a provider user without a
                known provider, or a name already taken.

        """
        _check_name(name)
        role_set = parse_roles(roles)
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password needs at least {MIN_PASSWORD} characters", field="password")
        if Role.PROVIDER in role_set:
            if role_set != {Role.PROVIDER}:
                raise AccountError("a provider user holds the provider role only", field="role")
            if provider_id is None:
                # Words for the admin page and the command line alike: neither form's field name.
                raise AccountError("a provider user needs the provider they work for", field="provider_id")
        elif provider_id is not None:
            raise AccountError("only provider users are bound to a provider", field="provider_id")
        password_hash = self.hasher.hash(password)
        with self.store.session() as s:
            if provider_id is not None and not provider_exists(s, provider_id):
                raise AccountError(f"no provider with id {provider_id}", field="provider_id")
            if orgs.get(s, org_id) is None:
                raise AccountError(f"no organisation with id {org_id}", field="org_id")
            if s.scalar(select(WebUser.id).where(WebUser.name == name)) is not None:
                raise AccountError(f"a user named {name!r} exists", field="name")
            user = WebUser(name=name, password_hash=password_hash, roles=sorted(r.value for r in role_set),
                           provider_id=provider_id, disabled=False, created_at=self.clock(), org_id=org_id)
            s.add(user)
            s.flush()
            user_id = user.id
        record(self.store, actor, AuditAction.USER_CREATE, f"user:{name}", at=self.clock(),
               roles=sorted(r.value for r in role_set), provider_id=provider_id, org_id=org_id)
        return user_id

    def set_org(self, name: str, org_id: int, *, actor: str) -> None:
        """Move account ``name`` to organisation ``org_id`` (roles stay; it sees that organisation's items); audited.

        Raises:
            AccountError: No such account or organisation.

        """
        with self.store.session() as s:
            user = s.scalar(select(WebUser).where(WebUser.name == name))
            if user is None:
                raise AccountError(f"no user named {name!r}", field="name")
            if orgs.get(s, org_id) is None:
                raise AccountError(f"no organisation with id {org_id}", field="org_id")
            before, user.org_id = user.org_id, org_id
        record(self.store, actor, AuditAction.USER_ORG, f"user:{name}", at=self.clock(), org_id=org_id,
               was=before)

    def list_users(self) -> list[UserInfo]:
        """Every account, by name."""
        with self.store.session() as s:
            return [
                UserInfo(id=u.id, name=u.name, roles=list(u.roles), provider_id=u.provider_id, disabled=u.disabled,
                         created_at=u.created_at, last_login_at=u.last_login_at, org_id=u.org_id)
                for u in s.scalars(select(WebUser).order_by(WebUser.name))
            ]

    def disable_user(self, name: str, *, actor: str) -> None:
        """Disable an account: its sessions end and its API tokens are revoked.

        Raises:
            AccountError: If there is no such user.

        """
        now = self.clock()
        with self.store.session() as s:
            user = s.scalar(select(WebUser).where(WebUser.name == name))
            if user is None:
                raise AccountError(f"no user named {name!r}")
            user.disabled = True
            s.execute(delete(WebSession).where(WebSession.user_id == user.id))
            for token in s.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
                token.revoked_at = now
        record(self.store, actor, AuditAction.USER_DISABLE, f"user:{name}", at=now)

    def _change_user(self, user_id: int, change: Callable[[WebUser], None]) -> str:
        with self.store.session() as s:
            user = s.get(WebUser, user_id)
            if user is None:
                raise AccountError("no such user")
            change(user)
            return user.name

    def enable_user(self, user_id: int, *, actor: str) -> None:
        """Re-enable a disabled account (it signs in again; its revoked tokens stay revoked); audited.

        Raises:
            AccountError: If there is no such user or it is not disabled.

        """
        def enable(user: WebUser) -> None:
            if not user.disabled:
                raise AccountError(f"{user.name} is not disabled")
            user.disabled = False

        name = self._change_user(user_id, enable)
        record(self.store, actor, AuditAction.USER_ENABLE, f"user:{name}", at=self.clock())

    def reset_password(self, user_id: int, password: str, *, actor: str) -> None:
        """Give an account a new password chosen by an admin; its sessions end; audited (never the password).

        Raises:
            AccountError: If there is no such user or the password is too short.

        """
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")
        password_hash = self.hasher.hash(password)

        def reset(user: WebUser) -> None:
            user.password_hash = password_hash

        name = self._change_user(user_id, reset)
        with self.store.session() as s:
            s.execute(delete(WebSession).where(WebSession.user_id == user_id))
        record(self.store, actor, AuditAction.USER_PASSWORD_RESET, f"user:{name}", at=self.clock())

    def set_roles(self, user_id: int, roles: Iterable[str], *, actor: str) -> None:
        """Change an account's roles (a provider user stays a provider user, bound to its provider); audited.

        Raises:
            AccountError: If there is no such user, no role is chosen, a role is unknown, or the change would
                make a provider user of a staff account or the reverse.

        """
        role_set = parse_roles(roles)

        def change(user: WebUser) -> None:
            if (user.provider_id is not None) != (role_set == {Role.PROVIDER}):
                raise AccountError("A provider's account holds the provider role only, and staff accounts never "
                                   "hold it: create a new account instead.")
            user.roles = sorted(r.value for r in role_set)

        # Roles are read on every request (from_session), so the change applies at once.
        name = self._change_user(user_id, change)
        record(self.store, actor, AuditAction.USER_ROLES, f"user:{name}", at=self.clock(),
               roles=sorted(r.value for r in role_set))

    def create_token(self, user_name: str, token_name: str, *, actor: str, expires_days: int | None = None) -> str:
        """Issue an API token for ``user_name``; the returned secret is not kept and cannot be shown again.

        Raises:
            AccountError: If the user does not exist or is disabled, or ``expires_days`` is not positive.

        """
        return self.issue_token(user_name, token_name, actor=actor, expires_days=expires_days)[1]

    def issue_token(self, user_name: str, token_name: str, *, actor: str,
                    expires_days: int | None = None) -> tuple[int, str]:
        """Issue an API token for ``user_name``: its id (the HTTP Basic user name) and its secret, shown once.

        Raises:
            AccountError: If the user does not exist or is disabled, or ``expires_days`` is not positive.

        """
        if expires_days is not None and expires_days <= 0:
            raise AccountError("a token's lifetime must be at least one day")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.session() as s:
            user = s.scalar(select(WebUser).where(WebUser.name == user_name))
            if user is None or user.disabled:
                raise AccountError(f"no active user named {user_name!r}")
            row = ApiToken(user_id=user.id, name=token_name[:200] or "token", token_hash=_digest(secret),
                           prefix=secret[:12], created_at=now,
                           expires_at=now + timedelta(days=expires_days) if expires_days else None)
            s.add(row)
            s.flush()
            token_id = row.id
        record(self.store, actor, AuditAction.TOKEN_CREATE, f"user:{user_name}", at=now, token=token_name,
               prefix=secret[:12], expires_days=expires_days)
        return token_id, secret

    def list_tokens(self) -> list[TokenInfo]:
        """Every API token ever issued, newest first (revoked and expired ones included, marked)."""
        with self.store.session() as s:
            rows = s.execute(select(ApiToken, WebUser.name).join(WebUser, WebUser.id == ApiToken.user_id)
                             .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()
            return [TokenInfo(t.id, name, t.name, t.prefix, t.created_at, t.expires_at, t.last_used_at, t.revoked_at)
                    for t, name in rows]

    def revoke_token(self, token_id: int, *, actor: str) -> None:
        """Revoke one API token at once (its owner's other tokens and sessions stay); audited.

        Raises:
            AccountError: If there is no such token or it is already revoked.

        """
        now = self.clock()
        with self.store.session() as s:
            token = s.get(ApiToken, token_id)
            if token is None or token.revoked_at is not None:
                raise AccountError("no such token, or it is already revoked")
            token.revoked_at = now
            owner = s.scalar(select(WebUser.name).where(WebUser.id == token.user_id))
            prefix, name = token.prefix, token.name
        record(self.store, actor, AuditAction.TOKEN_REVOKE, f"user:{owner}", at=now, token=name, prefix=prefix)

    # --- sign-in -----------------------------------------------------------------------------------------------

    def _wait(self, session: Any, key: str, limit: int, now: datetime) -> float:
        """Seconds ``key`` must still wait: none below ``limit`` failures, then doubling with each one."""
        window_start = now - timedelta(seconds=self.settings.login_window_s)
        count, last = session.execute(
            select(func.count(), func.max(LoginFailure.at)).where(LoginFailure.key == key,
                                                                  LoginFailure.at >= window_start)
        ).one()
        if count < limit or last is None:
            return 0.0
        last_at: datetime = last if last.tzinfo is not None else last.replace(tzinfo=now.tzinfo)
        # Progressive: the limit-th failure costs login_delay_s, each further one doubles it (capped).
        delay = min(float(self.settings.login_lockout_s), self.settings.login_delay_s * 2 ** min(count - limit, 30))
        return max(0.0, (last_at + timedelta(seconds=delay) - now).total_seconds())

    def _device(self, session: Any, name: str, device: str | None, now: datetime) -> int | None:
        """The id of the remembered browser ``device`` if it signed in to ``name`` before and is not expired."""
        if not device:
            return None
        row = session.scalar(select(LoginDevice).join(WebUser, WebUser.id == LoginDevice.user_id)
                             .where(LoginDevice.token_hash == _digest(device), WebUser.name == name))
        return row.id if row is not None and now < row.expires_at else None

    def sign_in(self, name: str, password: str, client_ip: str, device: str | None = None) -> SignedIn:
        """Check a password and open a session.

        Limits are per account and cannot be spent by others: a browser that signed in to the account
        before (``device``, the cookie :attr:`SignedIn.device` set) counts only its own failures;
        other browsers count per account and per address, and wait longer with each failure.

        Raises:
            SignInRefusedError: On a wrong name or password, a disabled account, or while a limit holds.

        """
        now = self.clock()
        user_key, ip_key = f"user:{name.lower()}"[:300], f"ip:{client_ip}"[:300]
        with self.store.session() as s:
            device_id = self._device(s, name, device, now)
            keys = ([(f"device:{device_id}", self.settings.login_max_failures)] if device_id is not None else
                    [(user_key, self.settings.login_max_failures), (ip_key, self.settings.login_ip_max_failures)])
            wait = max(self._wait(s, key, limit, now) for key, limit in keys)
            if wait > 0:
                seconds = ceil(wait)
                raise SignInRefusedError(f"too many failed sign-ins; try again in {seconds} "
                                         f"second{'' if seconds == 1 else 's'}", locked=True)
            user = s.scalar(select(WebUser).where(WebUser.name == name))
            stored = user.password_hash if user is not None else self._dummy_hash
            ok: bool
            try:
                ok = self.hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                ok = False
            ok = ok and user is not None and not user.disabled
        if not ok or user is None:
            with self.store.session() as s:
                s.add_all([LoginFailure(key=key, at=now) for key, _ in keys])
                horizon = now - timedelta(seconds=max(self.settings.login_window_s, self.settings.login_lockout_s))
                s.execute(delete(LoginFailure).where(LoginFailure.at < horizon))
            raise SignInRefusedError("wrong user name or password", locked=False)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        session_id = _digest(token)
        new_device = None if device_id is not None else secrets.token_urlsafe(32)
        with self.store.session() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.key.in_([key for key, _ in keys if key != ip_key])))
            s.execute(delete(WebSession).where(WebSession.expires_at < now))
            s.execute(delete(LoginDevice).where(LoginDevice.expires_at < now))
            if new_device is not None:
                s.add(LoginDevice(user_id=user.id, token_hash=_digest(new_device), created_at=now,
                                  expires_at=now + timedelta(days=self.settings.login_device_days)))
            db_user = s.get(WebUser, user.id)
            assert db_user is not None
            if self.hasher.check_needs_rehash(db_user.password_hash):
                db_user.password_hash = self.hasher.hash(password)
            db_user.last_login_at = now
            s.add(WebSession(id=session_id, user_id=user.id, csrf_token=csrf, created_at=now, last_seen_at=now,
                             expires_at=now + timedelta(hours=self.settings.session_max_hours),
                             client_ip=client_ip[:64], reveals={}, break_at=now))
        principal = Principal(user_id=user.id, name=user.name, roles=frozenset(Role(r) for r in user.roles),
                              provider_id=user.provider_id, via="session", session_id=session_id, csrf_token=csrf,
                              org_id=user.org_id)
        return SignedIn(token=token, session_id=session_id, csrf_token=csrf, principal=principal, device=new_device)

    def unlock(self, name: str, *, actor: str) -> int:
        """Lift every sign-in limit on account ``name`` (its failures from browsers and addresses); audited.

        Returns:
            How many counted failures were cleared.

        Raises:
            AccountError: If there is no such user.

        """
        with self.store.session() as s:
            user = s.scalar(select(WebUser).where(WebUser.name == name))
            if user is None:
                raise AccountError(f"no user named {name!r}", field="name")
            devices = [f"device:{d}" for d in s.scalars(select(LoginDevice.id).where(LoginDevice.user_id == user.id))]
            held = LoginFailure.key.in_([f"user:{name.lower()}"[:300], *devices])
            cleared = int(s.scalar(select(func.count()).select_from(LoginFailure).where(held)) or 0)
            s.execute(delete(LoginFailure).where(held))
        record(self.store, actor, AuditAction.USER_UNLOCK, f"user:{name}", at=self.clock(), cleared=cleared)
        return cleared

    def locked_users(self) -> set[str]:
        """Names of accounts whose untrusted sign-ins must wait now (for the admin's user list)."""
        now = self.clock()
        with self.store.session() as s:
            names = list(s.scalars(select(WebUser.name)))
            return {n for n in names if self._wait(s, f"user:{n.lower()}"[:300], self.settings.login_max_failures,
                                                   now) > 0}

    def sign_out(self, session_id: str) -> None:
        """End a session."""
        with self.store.session() as s:
            s.execute(delete(WebSession).where(WebSession.id == session_id))

    # --- resolving callers -------------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Principal | None:
        """The caller of ``request`` from its bearer token or session cookie, or None."""
        header = request.headers.get("authorization", "")
        if header:
            presented = presented_token(header)
            if presented is None or (presented[0] is not None and not request.url.path.startswith(API_PREFIXES)):
                # Basic only for the API: a browser that once sent Basic credentials resends them unasked,
                # which would make a cross-site form post look like a token call (exempt from CSRF checks).
                return None
            return self.from_token(presented[1], token_id=presented[0])
        cookie = request.cookies.get(SESSION_COOKIE)
        return self.from_session(cookie) if cookie else None

    def from_session(self, token: str) -> Principal | None:
        """The principal of a live session, touching it; None if unknown, expired, idle or its user disabled."""
        now = self.clock()
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        with self.store.session() as s:
            row = s.get(WebSession, _digest(token))
            if row is None:
                return None
            user = s.get(WebUser, row.user_id)
            if user is None or user.disabled or now >= row.expires_at or now - row.last_seen_at >= idle:
                s.delete(row)
                return None
            # Writing on every request would serialise SQLite; a minute's precision is enough for idling.
            if now - row.last_seen_at > timedelta(seconds=60):
                row.last_seen_at = now
            return Principal(user_id=user.id, name=user.name, roles=frozenset(Role(r) for r in user.roles),
                             provider_id=user.provider_id, via="session", session_id=row.id, csrf_token=row.csrf_token,
                             org_id=user.org_id)

    def from_token(self, token: str, *, token_id: int | None = None) -> Principal | None:
        """The principal of a live API token; None if unknown, revoked, expired, its user disabled or not ``token_id``.

        ``token_id`` is the id HTTP Basic callers name as user name; Bearer callers name none.
        """
        if not token.startswith(TOKEN_PREFIX):
            return None
        now = self.clock()
        with self.store.session() as s:
            row = s.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
            if row is None or row.revoked_at is not None or (row.expires_at is not None and now >= row.expires_at):
                return None
            if token_id is not None and row.id != token_id:
                return None
            user = s.get(WebUser, row.user_id)
            if user is None or user.disabled:
                return None
            if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=60):
                row.last_used_at = now
            return Principal(user_id=user.id, name=user.name, roles=frozenset(Role(r) for r in user.roles),
                             provider_id=user.provider_id, via="token", org_id=user.org_id)

    # --- per-session review state ------------------------------------------------------------------------------

    def reveal_level(self, principal: Principal, item_id: int) -> int:
        """How far this session has revealed item ``item_id`` (0 for token callers)."""
        if principal.session_id is None:
            return 0
        with self.store.session() as s:
            row = s.get(WebSession, principal.session_id)
            return int((row.reveals or {}).get(str(item_id), 0)) if row is not None else 0

    def set_reveal_level(self, principal: Principal, item_id: int, level: int) -> None:
        """Remember that this session revealed item ``item_id`` up to ``level``."""
        if principal.session_id is None:
            return
        with self.store.session() as s:
            row = s.get(WebSession, principal.session_id)
            if row is not None:
                reveals = dict(row.reveals or {})
                reveals[str(item_id)] = level
                row.reveals = reveals

    def break_started(self, principal: Principal) -> datetime | None:
        """When this session's analyst last took a break (the sign-in, if never)."""
        if principal.session_id is None:
            return None
        with self.store.session() as s:
            row = s.get(WebSession, principal.session_id)
            return row.break_at if row is not None else None


def presented_token(header: str) -> tuple[int | None, str] | None:
    """The API token an ``Authorization`` header presents: ``(None, token)`` for Bearer, ``(id, token)`` for Basic.

    None for any other scheme or a malformed value. Basic's user name is the token's id (``orbweaver token
    create`` prints it); its password is the token itself.
    """
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return None, value
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep or not user.isdigit() or len(user) > 18 or not password:
        return None
    return int(user), password


def client_ip(request: Request) -> str:
    """The caller's address (uvicorn already applied X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client is not None else "unknown"


def cookie_secure(request: Request, settings: WebSettings) -> bool:
    """Whether cookies set on this response must be ``Secure``."""
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    return request.url.scheme == "https"


def form_token(request: Request, cookie: str) -> str:
    """The double-submit token of a form shown before any session (sign-in, public pages): its cookie's, else new."""
    return request.cookies.get(cookie) or secrets.token_urlsafe(32)


def set_form_token(response: Response, request: Request, settings: WebSettings, cookie: str, token: str, *,
                   path: str, max_age: int = 3600) -> None:
    """Set the cookie half of :func:`form_token` for the pages under ``path`` (HTTP-only, same-site strict)."""
    response.set_cookie(cookie, token, max_age=max_age, path=path, httponly=True, samesite="strict",
                        secure=cookie_secure(request, settings))


def form_token_ok(request: Request, cookie: str, sent: str | None) -> bool:
    """Whether the token a form sent equals its cookie's (the double submit of :func:`form_token`)."""
    expected = request.cookies.get(cookie)
    return bool(expected and sent and secrets.compare_digest(expected, sent))


def wants_html(request: Request) -> bool:
    """Whether an anonymous caller is a browser asking for a page (redirect to sign in) rather than an API client."""
    if request.url.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def safe_next(target: str | None) -> str:
    """A post-sign-in redirect target that stays on this site (a path, never ``//host`` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


"""Accounts, sessions, CSRF, sign-in limits and API tokens."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.store import Store
from core.store.tables.web import ApiToken, AuditEvent, WebSession, WebUser
from tests.fixtures.clock import FakeClock
from tests.unit.web.conftest import PASSWORD, WEB_START, Env, make_settings, sign_in
from tests.unit.web.seed import csrf_of
from web.app import create_app
from web.auth import SESSION_COOKIE, AccountError, Role, safe_next


def audit_actions(env: Env, action: str) -> list[AuditEvent]:
    with env.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_passwords_are_stored_as_argon2id_hashes(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    with env.store.session() as s:
        stored = s.scalars(select(WebUser.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert [e.subject for e in audit_actions(env, "admin.user_create")] == ["user:alice"]


@pytest.mark.parametrize(
    ("name", "password", "roles", "provider", "reason"),
    [
        ("bad name!", PASSWORD, ["analyst"], None, "invalid user name"),
        ("bob", "short", ["analyst"], None, "at least 12"),
        ("bob", PASSWORD, ["wizard"], None, "unknown role"),
        ("bob", PASSWORD, [], None, "at least one role"),
        ("bob", PASSWORD, ["provider"], None, "needs the provider they work for"),
        ("bob", PASSWORD, ["provider", "admin"], 1, "provider role only"),
        ("bob", PASSWORD, ["analyst"], 1, "only provider users"),
        ("bob", PASSWORD, ["provider"], 999, "no provider with id 999"),
    ],
)
def test_bad_accounts_are_refused_with_a_reason(
    env: Env, name: str, password: str, roles: list[str], provider: int | None, reason: str
) -> None:
    env.provider("host-one")
    with pytest.raises(AccountError, match=reason):
        env.accounts.create_user(name, password, roles, actor="test", provider_id=provider)
    with env.store.session() as s:
        assert s.scalars(select(WebUser)).all() == []


def test_duplicate_user_is_refused(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    with pytest.raises(AccountError, match="exists"):
        env.user("alice", Role.ADMIN)


def test_sign_in_sets_an_httponly_samesite_session_cookie_and_redirects_to_next(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    client = env.client()
    response = sign_in(client, "alice", next_url="/review")
    assert response.status_code == 303 and response.headers["location"] == "/review"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    with env.store.session() as s:
        session_ids = s.scalars(select(WebSession.id)).all()
    # The store keeps only a digest of the cookie's secret.
    assert session_ids == [hashlib.sha256(token.encode()).hexdigest()]
    assert client.get("/review").status_code == 200
    assert [e.actor for e in audit_actions(env, "auth.sign_in")] == ["alice"]


def test_session_cookie_is_secure_over_tls_or_when_configured(env: Env, tmp_path: Path) -> None:
    env.user("alice", Role.ANALYST)
    https = TestClient(env.app, base_url="https://testserver", follow_redirects=False)
    cookie = sign_in(https, "alice").headers.get_list("set-cookie")
    assert any(c.startswith(SESSION_COOKIE) and "Secure" in c for c in cookie)

    settings = make_settings(tmp_path / "b", cookie_secure="always", cookie_samesite="strict")
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    store.migrate()
    app = create_app(settings, store=store, bus=EmbeddedBus(tmp_path / "bus2.db"),
                     blobs=LocalBlobStore(tmp_path / "blobs2"), clock=FakeClock(WEB_START))
    app.state.ctx.accounts.create_user("carol", PASSWORD, ["analyst"], actor="test")
    # Behind a TLS-terminating proxy that is not trusted, the app sees http: "always" still marks cookies Secure.
    login_form = TestClient(app, follow_redirects=False).get("/login")
    assert all("Secure" in c for c in login_form.headers.get_list("set-cookie"))
    cookie = sign_in(TestClient(app, base_url="https://testserver", follow_redirects=False),
                     "carol").headers.get_list("set-cookie")
    assert any(c.startswith(SESSION_COOKIE) and "Secure" in c and "SameSite=strict" in c for c in cookie)
    store.dispose()


def test_next_never_leaves_the_site() -> None:
    assert safe_next("//evil.test/x") == "/"
    assert safe_next("https://evil.test/") == "/"
    assert safe_next("/\\evil.test") == "/"
    assert safe_next("/review?x=1") == "/review?x=1"


def test_sign_in_form_needs_its_csrf_token(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    client = env.client()
    client.get("/login")
    missing = client.post("/login", data={"name": "alice", "password": PASSWORD})
    wrong = client.post("/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "forged"})
    assert missing.status_code == wrong.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_wrong_password_is_refused_and_audited(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    response = sign_in(env.client(), "alice", "not the password")
    assert response.status_code == 401
    assert "wrong user name or password" in response.text
    failed = audit_actions(env, "auth.sign_in_failed")
    assert [(e.actor, e.subject) for e in failed] == [("anonymous", "user:alice")]


def test_account_locks_after_failures_and_unlocks_after_the_lockout(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    limit = env.settings.web.login_max_failures
    for _ in range(limit):
        assert sign_in(env.client(), "alice", "wrong password!").status_code == 401
    locked = sign_in(env.client(), "alice")  # the right password, during the lockout
    assert locked.status_code == 429 and "too many failed sign-ins" in locked.text
    env.clock.advance(seconds=env.settings.web.login_lockout_s + 1)
    assert sign_in(env.client(), "alice").status_code == 303


def test_client_address_locks_after_failures_across_accounts(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    for i in range(env.settings.web.login_ip_max_failures):
        assert sign_in(env.client(), f"nobody{i}", "guess guess guess").status_code == 401
    # alice never failed, but every attempt came from the same address.
    assert sign_in(env.client(), "alice").status_code == 429


def test_success_clears_the_account_failure_count(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    for _ in range(env.settings.web.login_max_failures - 1):
        sign_in(env.client(), "alice", "wrong password!")
    assert sign_in(env.client(), "alice").status_code == 303
    sign_in(env.client(), "alice", "wrong password!")
    assert sign_in(env.client(), "alice").status_code == 303


def test_idle_and_old_sessions_end(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    client = env.signed_in("alice")
    env.clock.advance(minutes=env.settings.web.session_idle_minutes - 1)
    assert client.get("/review").status_code == 200
    env.clock.advance(minutes=env.settings.web.session_idle_minutes + 1)
    assert client.get("/review", headers={"Accept": "text/html"}).status_code == 303

    client = env.signed_in("alice")
    for _ in range(env.settings.web.session_max_hours * 3):
        env.clock.advance(minutes=20)
        client.get("/")
    assert client.get("/", headers={"Accept": "application/json"}).status_code == 401


def test_sign_out_needs_csrf_and_ends_the_session(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    client = env.signed_in("alice")
    csrf = csrf_of(client.get("/review").text)
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    with env.store.session() as s:
        assert s.scalars(select(WebSession)).all() == []
    assert client.get("/review", headers={"Accept": "application/json"}).status_code == 401


def test_state_changing_forms_reject_missing_or_wrong_csrf(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    client = env.signed_in("alice")
    csrf = csrf_of(client.get("/review").text)
    assert client.post("/review/break").status_code == 403
    assert client.post("/review/break", data={"csrf_token": csrf[:-1] + "x"}).status_code == 403
    assert client.post("/review/break", headers={"X-CSRF-Token": "nope"}).status_code == 403
    assert client.post("/review/break", data={"csrf_token": csrf}).status_code == 303
    assert client.post("/review/break", headers={"X-CSRF-Token": csrf}).status_code == 303


def test_api_tokens_are_hashed_shown_once_and_need_no_csrf(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    token = env.accounts.create_token("alice", "script", actor="test")
    with env.store.session() as s:
        row = s.scalars(select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
    client = env.client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/review", headers=bearer).status_code == 200
    assert client.post("/review/break", headers=bearer).status_code == 303
    assert client.get("/review", headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert [e.subject for e in audit_actions(env, "admin.token_create")] == ["user:alice"]


def test_tokens_expire(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    token = env.accounts.create_token("alice", "short", actor="test", expires_days=1)
    bearer = {"Authorization": f"Bearer {token}"}
    assert env.client().get("/review", headers=bearer).status_code == 200
    env.clock.advance(days=1, seconds=1)
    assert env.client().get("/review", headers=bearer).status_code == 401
    with pytest.raises(AccountError):
        env.accounts.create_token("alice", "bad", actor="test", expires_days=0)
    with pytest.raises(AccountError, match="no active user"):
        env.accounts.create_token("nobody", "x", actor="test")


def test_disabling_a_user_ends_sessions_and_revokes_tokens(env: Env) -> None:
    env.user("alice", Role.ANALYST)
    client = env.signed_in("alice")
    token = env.accounts.create_token("alice", "script", actor="test")
    env.accounts.disable_user("alice", actor="test")
    assert client.get("/review", headers={"Accept": "application/json"}).status_code == 401
    assert env.client().get("/review", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert sign_in(env.client(), "alice").status_code == 401
    assert [e.subject for e in audit_actions(env, "admin.user_disable")] == ["user:alice"]
    with pytest.raises(AccountError):
        env.accounts.disable_user("nobody", actor="test")


def test_healthz_and_login_are_open(env: Env) -> None:
    client = env.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/login").status_code == 200

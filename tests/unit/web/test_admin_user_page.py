"""One account in the browser: an admin re-enables it, resets its password and changes its roles, audited."""

from __future__ import annotations

from sqlalchemy import select

from core.store.tables.web import AuditEvent, WebUser
from tests.unit.web.conftest import PASSWORD, Env, sign_in
from tests.unit.web.seed import csrf_of
from web.auth import Role


def user_id(env: Env, name: str) -> int:
    with env.store.session() as s:
        found = s.scalar(select(WebUser.id).where(WebUser.name == name))
        assert found is not None
        return found


def test_an_admin_re_enables_resets_and_changes_roles(env: Env) -> None:
    env.user("root", Role.ADMIN)
    env.user("alice", Role.ANALYST)
    alice = user_id(env, "alice")
    admin = env.signed_in("root")
    listed = admin.get("/admin/users").text
    assert f'<a href="/admin/users/{alice}">alice</a>' in listed
    csrf = csrf_of(listed)
    assert admin.post(f"/admin/users/{alice}/disable", data={"csrf_token": csrf}).status_code == 303
    assert sign_in(env.client(), "alice").status_code != 303  # disabled: refused
    page = admin.get(f"/admin/users/{alice}")
    assert page.status_code == 200 and 'id="user-status">disabled' in page.text
    enabled = admin.post(f"/admin/users/{alice}/enable", data={"csrf_token": csrf})
    assert enabled.status_code == 303
    assert "enabled again" in admin.get(enabled.headers["location"]).text
    assert sign_in(env.client(), "alice").status_code == 303
    again = admin.post(f"/admin/users/{alice}/enable", data={"csrf_token": csrf})
    assert again.status_code == 409 and "alice is not disabled" in again.text

    short = admin.post(f"/admin/users/{alice}/password", data={"csrf_token": csrf, "password": "short"})
    assert short.status_code == 422 and 'id="password-error"' in short.text and "at least 12" in short.text
    session = env.signed_in("alice")
    assert session.get("/review").status_code == 200
    reset = admin.post(f"/admin/users/{alice}/password",
                       data={"csrf_token": csrf, "password": "a brand new passphrase"})
    assert reset.status_code == 303
    assert session.get("/review").status_code == 401  # her sessions ended
    assert sign_in(env.client(), "alice", PASSWORD).status_code != 303
    assert sign_in(env.client(), "alice", "a brand new passphrase").status_code == 303

    fresh = env.signed_in("alice", "a brand new passphrase")
    assert fresh.get("/dashboard").status_code == 403
    roles = admin.post(f"/admin/users/{alice}/roles", data={"csrf_token": csrf, "role": ["analyst", "operator"]})
    assert roles.status_code == 303
    assert fresh.get("/dashboard").status_code == 200  # applies at once
    none = admin.post(f"/admin/users/{alice}/roles", data={"csrf_token": csrf})
    assert none.status_code == 422 and "Choose at least one role." in none.text
    provider = admin.post(f"/admin/users/{alice}/roles", data={"csrf_token": csrf, "role": ["provider"]})
    assert provider.status_code == 422 and "provider role only" in provider.text
    own = admin.post(f"/admin/users/{user_id(env, 'root')}/roles", data={"csrf_token": csrf, "role": ["operator"]})
    assert own.status_code == 409 and "your own account" in own.text
    assert admin.get("/admin/users/999").status_code == 404
    with env.store.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.subject == "user:alice",
                                                            AuditEvent.actor == "root").order_by(AuditEvent.id)).all()
    assert actions == ["admin.user_disable", "admin.user_enable", "admin.user_password_reset", "admin.user_roles"]

"""API tokens in the browser: an admin issues one (its secret shown once), lists them and revokes one."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from core.store.tables.web import AuditEvent
from tests.unit.web.conftest import Env
from tests.unit.web.seed import csrf_of
from web.auth import Role


def probe(api: TestClient, secret: str) -> int:
    """The API's answer to the token: 401 when it no longer opens the API, a validation error otherwise."""
    return api.post("/v1/hashes", json={}, headers={"Authorization": f"Bearer {secret}"}).status_code


SECRET = re.compile(r'<code class="hash" id="token-secret">([^<]+)</code>')


def test_an_admin_issues_lists_and_revokes_one_token(env: Env) -> None:
    env.user("root", Role.ADMIN)
    env.user("scripts", Role.HASH_CHECK)
    admin = env.signed_in("root")
    page = admin.get("/admin/tokens")
    assert page.status_code == 200 and 'id="no-tokens"' in page.text
    issued = []
    for name in ("nightly export", "dashboard poller"):
        made = admin.post("/admin/tokens", data={"csrf_token": csrf_of(page.text), "user": "scripts", "name": name,
                                                 "expires_days": "30"})
        assert made.status_code == 201
        found = SECRET.search(made.text)
        assert found is not None
        issued.append(found.group(1))
    api = env.client()
    for secret in issued:
        assert probe(api, secret) != 401
    listed = admin.get("/admin/tokens").text
    assert issued[0] not in listed and issued[1] not in listed  # the secret is shown once, never listed
    assert listed.count('class="revoke"') == 2
    first = re.search(r'<tr data-token="(\d+)"><td>scripts</td><td>nightly export</td>', listed)
    assert first is not None
    revoked = admin.post(f"/admin/tokens/{first.group(1)}/revoke", data={"csrf_token": csrf_of(listed)})
    assert revoked.status_code == 303
    assert probe(api, issued[0]) == 401
    assert probe(api, issued[1]) != 401
    again = admin.post(f"/admin/tokens/{first.group(1)}/revoke", data={"csrf_token": csrf_of(listed)})
    assert again.status_code == 409 and "already revoked" in again.text
    with env.store.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("admin.token_%"))
                            .order_by(AuditEvent.id)).all()
    assert actions == ["admin.token_create", "admin.token_create", "admin.token_revoke"]


def test_a_bad_token_form_comes_back_filled_in_with_the_reason(env: Env) -> None:
    env.user("root", Role.ADMIN)
    env.user("scripts", Role.HASH_CHECK)
    admin = env.signed_in("root")
    csrf = csrf_of(admin.get("/admin/tokens").text)
    no_name = admin.post("/admin/tokens", data={"csrf_token": csrf, "user": "scripts", "name": " ",
                                                  "expires_days": "7"})
    assert no_name.status_code == 422 and "Give the token a name" in no_name.text
    assert '<option value="scripts" selected>' in no_name.text and 'value="7"' in no_name.text
    bad_days = admin.post("/admin/tokens", data={"csrf_token": csrf, "user": "scripts", "name": "x",
                                                 "expires_days": "soon"})
    assert bad_days.status_code == 422 and "whole number of days" in bad_days.text and 'value="x"' in bad_days.text
    no_user = admin.post("/admin/tokens", data={"csrf_token": csrf, "name": "x"})
    assert no_user.status_code == 422 and "Choose whose token" in no_user.text

"""The audit log page, its filters and exports, and user administration through the web app."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from core.store.tables.web import AuditEvent, WebUser
from tests.unit.web.conftest import PASSWORD, Env
from tests.unit.web.seed import csrf_of
from web.audit import AuditFilter, export
from web.auth import Role


def events(env: Env, action: str) -> list[AuditEvent]:
    with env.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def table(html: str) -> str:
    """The audit table alone (the filter form lists every action name)."""
    return html.split('<table id="audit"', 1)[1].split("</table>", 1)[0]


def test_audit_page_filters_and_audits_its_own_reading(env: Env) -> None:
    env.user("root", Role.ADMIN)
    env.user("alice", Role.ANALYST)
    env.signed_in("alice")
    admin = env.signed_in("root")
    everything = table(admin.get("/admin/audit").text)
    assert "auth.sign_in" in everything and "admin.user_create" in everything
    only_alice = table(admin.get("/admin/audit", params={"actor": "alice"}).text)
    assert "auth.sign_in" in only_alice and "admin.user_create" not in only_alice
    by_subject = table(admin.get("/admin/audit", params={"subject": "user:"}).text)
    assert "user:alice" in by_subject and "user:root" in by_subject
    by_action = table(admin.get("/admin/audit", params={"action": "admin.user_create"}).text)
    assert "auth.sign_in" not in by_action and "user:alice" in by_action
    empty = table(admin.get("/admin/audit", params={"since": "2030-01-01"}).text)
    assert "user:alice" not in empty
    assert admin.get("/admin/audit", params={"since": "yesterday"}).status_code == 422
    views = events(env, "audit.view")
    assert len(views) == 5 and {v.actor for v in views} == {"root"}  # the refused request read nothing
    assert views[1].detail["filter"] == {"actor": "alice"}


def test_audit_log_pages_back(env: Env) -> None:
    env.settings.web.audit_page_size = 3
    env.user("root", Role.ADMIN)
    for i in range(5):
        env.user(f"user{i}", Role.ANALYST)
    admin = env.signed_in("root")
    first_page = admin.get("/admin/audit", params={"action": "admin.user_create"}).text
    first = table(first_page)
    assert "user:user4" in first and "user:user1" not in first
    older = first_page.split('&amp;before=')[1].split('"')[0]
    second = table(admin.get("/admin/audit", params={"action": "admin.user_create", "before": older}).text)
    assert "user:user1" in second and "user:user4" not in second


def test_exports_as_csv_and_jsonl_are_audited(env: Env) -> None:
    env.user("root", Role.ADMIN)
    env.user("carl", Role.ANALYST)
    admin = env.signed_in("root")
    response = admin.get("/admin/audit/export", params={"format": "csv", "action": "admin.user_create"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["subject"] for r in rows] == ["user:root", "user:carl"]
    assert all(r["action"] == "admin.user_create" for r in rows)
    lines = admin.get("/admin/audit/export", params={"format": "jsonl"}).text.splitlines()
    parsed = [json.loads(line) for line in lines]
    assert {"id", "at", "actor", "action", "subject", "detail"} <= parsed[0].keys()
    assert any(p["action"] == "auth.sign_in" for p in parsed)
    exports = events(env, "audit.export")
    assert [e.detail["format"] for e in exports] == ["csv", "jsonl"]
    assert admin.get("/admin/audit/export", params={"format": "xml"}).status_code == 422


def test_csv_cells_that_spreadsheets_would_evaluate_are_defused(env: Env) -> None:
    env.accounts.create_user("plain", PASSWORD, ["analyst"], actor="=HYPERLINK(\"http://x\")")
    text = "".join(export(env.store, AuditFilter(), "csv"))
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["actor"].startswith("'=")


def test_admin_creates_and_disables_users_and_it_is_audited(env: Env) -> None:
    env.user("root", Role.ADMIN)
    provider_id = env.provider("host-a")
    admin = env.signed_in("root")
    page = admin.get("/admin/users")
    csrf = csrf_of(page.text)
    created = admin.post("/admin/users", data={"csrf_token": csrf, "name": "pat", "password": PASSWORD,
                                                "role": "provider", "provider_id": str(provider_id)})
    assert created.status_code == 303
    refused = admin.post("/admin/users", data={"csrf_token": csrf, "name": "x", "password": "short",
                                                "role": "analyst"})
    assert refused.status_code == 422 and "at least 12" in refused.text
    with env.store.session() as s:
        pat = s.scalars(select(WebUser).where(WebUser.name == "pat")).one()
        root_id = s.scalars(select(WebUser.id).where(WebUser.name == "root")).one()
    assert pat.roles == ["provider"] and pat.provider_id == provider_id
    assert admin.post(f"/admin/users/{root_id}/disable", data={"csrf_token": csrf}).status_code == 409
    assert admin.post("/admin/users/9999/disable", data={"csrf_token": csrf}).status_code == 404
    assert admin.post(f"/admin/users/{pat.id}/disable", data={"csrf_token": csrf}).status_code == 303
    assert [(e.actor, e.subject) for e in events(env, "admin.user_disable")] == [("root", "user:pat")]
    assert ("root", "user:pat") in [(e.actor, e.subject) for e in events(env, "admin.user_create")]
    assert "disabled" in admin.get("/admin/users").text

"""Every route declares who may use it, and anonymous or wrong-role callers are refused on every route."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from tests.unit.web.conftest import Env
from tests.unit.web.seed import csrf_of
from web.auth import Role, access_rule, check_access_rules, requires, routes

PROBE_PARAM = re.compile(r"\{([^}:]+)(:[^}]+)?\}")


def concrete(path: str) -> str:
    # Any value will do: access is decided before the parameter is looked at.
    return PROBE_PARAM.sub("1", path)


def role_clients(env: Env) -> dict[Role, tuple[TestClient, str, str]]:
    """A signed-in browser client, its CSRF token and an API token for one user of each role."""
    provider_id = env.provider("probe-host")
    out: dict[Role, tuple[TestClient, str, str]] = {}
    for role in Role:
        name = env.user(f"probe-{role.value}", role, provider_id=provider_id if role is Role.PROVIDER else None)
        client = env.signed_in(name)
        csrf = csrf_of(client.get("/").text)
        out[role] = (client, csrf, env.accounts.create_token(name, "probe", actor="test"))
    return out


def test_every_route_declares_an_access_rule(env: Env) -> None:
    views = routes(env.app)
    assert len(views) >= 15, "the walk must see the included routers' routes"
    for view in views:
        assert access_rule(env.app, view) is not None, view.path


def test_an_app_with_an_undeclared_route_does_not_start(env: Env) -> None:
    app = FastAPI()
    router = APIRouter()

    @router.get("/forgot")
    def forgot() -> dict[str, str]:
        return {}

    @router.get("/fine")
    def fine(_: object = requires(Role.ADMIN)) -> dict[str, str]:  # not wrapped in Depends: no rule either
        return {}

    app.include_router(router)
    with pytest.raises(RuntimeError, match="/forgot") as refused:
        check_access_rules(app)
    assert "/fine" in str(refused.value)


def test_anonymous_and_wrong_role_callers_are_refused_on_every_route(env: Env) -> None:
    clients = role_clients(env)
    anonymous = env.client()
    checked = 0
    for view in routes(env.app):
        rule = access_rule(env.app, view)
        assert rule is not None
        if rule.public:
            continue
        path = concrete(view.path)
        for method in sorted(view.methods - {"HEAD"}):
            page = anonymous.request(method, path, headers={"Accept": "text/html"})
            if path.startswith("/v1/"):
                assert page.status_code == 401, (method, path)
            else:
                assert page.status_code == 303, (method, path, page.status_code)
                assert page.headers["location"].startswith("/login?next="), (method, path)
            api = anonymous.request(method, path, headers={"Accept": "application/json"})
            assert api.status_code == 401, (method, path, api.status_code)
            # The Arachnid Shield-compatible routes also offer Basic (token id and token), what their client sends.
            assert api.headers["www-authenticate"] in ("Bearer", 'Basic realm="orbweaver", Bearer'), (method, path)
            bad_token = anonymous.request(method, path, headers={"Authorization": "Bearer owt_not-a-token"})
            assert bad_token.status_code == 401, (method, path)
            for role in set(Role) - rule.roles:
                client, csrf, token = clients[role]
                by_session = client.request(method, path, data={"csrf_token": csrf} if method != "GET" else None)
                assert by_session.status_code == 403, (method, path, role, by_session.status_code)
                by_token = anonymous.request(method, path, headers={"Authorization": f"Bearer {token}"})
                assert by_token.status_code == 403, (method, path, role, by_token.status_code)
            checked += 1
    assert checked >= 12


def test_public_routes_are_few_and_say_why(env: Env) -> None:
    public = {v.path: access_rule(env.app, v) for v in routes(env.app)}
    public_paths = {p for p, r in public.items() if r is not None and r.public}
    # The feeds take no account: their own keys, checked in web/feeds.py (tests/unit/web/test_feeds.py).
    # The survivor page is for anyone; its submissions are bounded and rate-limited (tests/unit/web/test_survivor.py).
    assert public_paths == {"/healthz", "/login", "/static", "/openapi.json", "/docs", "/stopncii/v1/FetchHashes",
                            "/feeds/v1/urls", "/survivor", "/survivor/hashes", "/report", "/report/status"}
    for path in public_paths:
        rule = public[path]
        assert rule is not None and rule.public_reason


def test_static_files_are_served_to_anyone_with_security_headers(env: Env) -> None:
    response = env.client().get("/static/review.js")
    assert response.status_code == 200
    assert "keydown" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_openapi_describes_the_api_only(env: Env) -> None:
    schema = env.client().get("/openapi.json")
    assert schema.status_code == 200
    # Pages are for browsers and stay out of the API description (schemathesis walks what is in it).
    assert not [p for p in schema.json()["paths"] if not p.startswith("/v1/")]


def test_the_api_reference_is_served_from_local_assets_only(env: Env) -> None:
    page = env.client().get("/docs")
    assert page.status_code == 200
    schema = env.client().get("/openapi.json").json()
    for path, item in schema["paths"].items():
        for method in item:
            assert f"<code>{method.upper()} {path}</code>" in page.text, (method, path)
    assert set(schema["components"]["schemas"]) == set(re.findall(r'id="schema-([^"]+)"', page.text))
    # Nothing is loaded from elsewhere: every script and stylesheet is this site's own.
    assert not re.search(r'(src|href)="(https?:)?//', page.text)

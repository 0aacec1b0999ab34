"""Several organisations: routing by hosting country, nothing of another organisation's items on any route,
forwarding, notices in the confirming organisation's name, agreement rates, and the admin page."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.store.tables.review import ItemForward, ReviewItem
from core.store.tables.web import AuditEvent
from matcher.hashsets import set_shared
from notifier.channels import OutboxChannel
from notifier.providers import ProviderRecord, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from review import orgs
from review.orgs import OPERATOR_ORG, OrgKind
from review.stage import ReviewStage
from review.workflow import ReviewWorkflow
from tests.unit.web.conftest import Env, make_env
from tests.unit.web.seed import confirm_and_notice, csrf_of, image, seed_candidate
from web.auth import Role, access_rule, routes

HOTLINE = 2
"""The French hotline's id: the first organisation after the operator's."""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """The web app with a French hotline that opted in; the review stage places every IP in France."""
    for e in make_env(tmp_path):
        with e.store.session() as s:
            assert orgs.create(s, "Point de Contact", kind=OrgKind.HOTLINE, jurisdiction=["fr"], opted_in=True,
                               categories={"fr_pedo": "baseline_csam"}, notice_email="signal@pointdecontact.test",
                               notice_name="Point de Contact (FR)") == HOTLINE
        e.stage = ReviewStage(e.bus, e.store, e.settings.review, country_of=lambda ip: "FR")
        for name, org_id in (("fr-analyst", HOTLINE), ("fr-analyst2", HOTLINE), ("op-analyst", OPERATOR_ORG)):
            e.accounts.create_user(name, "correct horse battery", [Role.ANALYST.value], actor="test", org_id=org_id)
        for name, org_id in (("fr-senior", HOTLINE), ("op-senior", OPERATOR_ORG)):
            e.accounts.create_user(name, "correct horse battery", [Role.SENIOR_ANALYST.value, Role.ADMIN.value],
                                   actor="test", org_id=org_id)
        yield e


def seed(env: Env, n: int = 1) -> int:
    return seed_candidate(env.store, env.blobs, env.stage, image(n), media_url=f"http://a.test/{n}.jpg").item_id


def test_route_item_goes_to_the_opted_in_organisation_of_the_country_else_the_operator(env: Env) -> None:
    with env.store.session() as s:
        later = orgs.create(s, "Late hotline", kind=OrgKind.HOTLINE, jurisdiction=["DE", "at"])
        assert orgs.route_item(s, "fr") == HOTLINE
        assert orgs.route_item(s, "DE") == OPERATOR_ORG  # covers DE but has not opted in
        orgs.set_opted_in(s, later, True)
        assert orgs.route_item(s, "AT") == later
        assert orgs.route_item(s, None) == orgs.route_item(s, "ZZZ") == OPERATOR_ORG
        with pytest.raises(orgs.OrganisationError, match="baseline class"):
            orgs.create(s, "Bad", kind=OrgKind.HOTLINE, categories={"x": "not-a-class"})
    item_id = seed(env)
    with env.store.session() as s:
        assert orgs.org_of_item(s, item_id) == HOTLINE
    # Without a country (the stage the app's tests use: no GeoIP hit), the item stays with the operator.
    other = seed_candidate(env.store, env.blobs, ReviewStage(env.bus, env.store, env.settings.review,
                                                             country_of=lambda ip: None),
                           image(2), media_url="http://a.test/2.jpg").item_id
    with env.store.session() as s:
        assert orgs.org_of_item(s, other) == OPERATOR_ORG


def item_routes(env: Env) -> list[tuple[str, str]]:
    """Every (method, path) of an analyst's route about one review item."""
    out = []
    for view in routes(env.app):
        rule = access_rule(env.app, view)
        if rule is None or "{item_id}" not in view.path or not rule.roles & {Role.ANALYST}:
            continue
        out += [(m, view.path) for m in sorted(view.methods - {"HEAD"})]
    return out


def test_another_organisations_analyst_gets_404_on_every_item_route_and_never_sees_it_queued(env: Env) -> None:
    item_id = seed(env)
    own = env.signed_in("fr-analyst")
    assert own.get(f"/review/items/{item_id}").status_code == 200
    assert f"/review/items/{item_id}" in own.get("/review").text
    stranger = env.signed_in("op-analyst")
    csrf = csrf_of(stranger.get("/").text)
    checked = item_routes(env)
    assert {p for _, p in checked} >= {"/review/items/{item_id}", "/review/items/{item_id}/media",
                                       "/review/items/{item_id}/decision", "/review/items/{item_id}/forward"}
    form = {"csrf_token": csrf, "choice": "baseline_csam", "step": "unblur", "to_org": "1",
            "reason": "wrong_jurisdiction"}
    for method, path in checked:
        answer = stranger.request(method, path.replace("{item_id}", str(item_id)),
                                  data=form if method != "GET" else None)
        assert answer.status_code == 404, (method, path, answer.status_code)
    assert f"/review/items/{item_id}" not in stranger.get("/review").text
    assert stranger.get("/review/next").headers["location"] == "/review"
    # A senior analyst (and admin) of the operator sees no more of it than an analyst.
    senior = env.signed_in("op-senior")
    assert senior.get(f"/review/items/{item_id}").status_code == 404
    assert f"/review/items/{item_id}" not in senior.get("/review").text


def test_forwarding_moves_the_item_to_the_other_organisation_audited(env: Env) -> None:
    item_id = seed(env)
    fr = env.signed_in("fr-analyst")
    page = fr.get(f"/review/items/{item_id}")
    assert f'action="/review/items/{item_id}/forward"' in page.text
    moved = fr.post(f"/review/items/{item_id}/forward", data={"csrf_token": csrf_of(page.text), "to_org": "1",
                                                               "reason": "hosting_moved", "note": "moved to NL"})
    assert moved.status_code == 303
    assert fr.get(f"/review/items/{item_id}").status_code == 404
    assert f"/review/items/{item_id}" not in fr.get("/review").text
    op = env.signed_in("op-analyst")
    assert op.get(f"/review/items/{item_id}").status_code == 200
    # Forwarding it back to itself, or someone else's item, is refused.
    again = op.post(f"/review/items/{item_id}/forward", data={"csrf_token": csrf_of(op.get("/").text),
                                                              "to_org": "1", "reason": "hosting_moved"})
    assert again.status_code == 422
    # An analyst's decision on an item since forwarded leaves their list, and no earlier one becomes undoable.
    kept, sent_on = seed(env, 8), seed(env, 9)
    decide(fr, kept, "baseline_csam")
    decide(fr, sent_on, "baseline_csam")
    fr.post(f"/review/items/{sent_on}/forward", data={"csrf_token": csrf_of(fr.get("/").text), "to_org": "1",
                                                      "reason": "wrong_jurisdiction"})
    mine = fr.get("/review/mine").text
    assert f'data-item="{kept}"' in mine and f'data-item="{sent_on}"' not in mine and 'class="undo"' not in mine
    with env.store.session() as s:
        rows = s.scalars(select(ItemForward)).all()[:1]
        assert [(r.from_org_id, r.to_org_id, r.reason, r.actor) for r in rows] == [
            (HOTLINE, OPERATOR_ORG, "hosting_moved", "fr-analyst")]
        audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.forward")).all()
        assert [(a.actor, a.subject, a.detail["to_org"]) for a in audited] == [
            ("fr-analyst", f"item:{item_id}", 1), ("fr-analyst", f"item:{sent_on}", 1)]


def test_notices_go_in_the_name_of_the_confirming_organisation(env: Env, tmp_path: Path) -> None:
    upsert_providers(env.store, [ProviderRecord(name="Host A", abuse_email="abuse@a.test", domains=["a.test"])])
    settings = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=0, hotline_policy="none")
    notifier = NotifierStage(env.bus, env.store, settings, OutboxChannel(tmp_path / "outbox", settings.sender),
                             clock=env.clock)
    workflow = ReviewWorkflow(env.store, env.bus, env.settings.review, env.clock)
    confirm_and_notice(env.store, env.blobs, env.bus, env.stage, workflow, notifier, image(3),
                       media_url="http://a.test/3.jpg", page_url="http://a.test/page")
    assert notifier.flush()
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    mail: Message = email.message_from_bytes(eml.read_bytes())
    assert mail["From"].startswith('"Point de Contact (FR)" <')
    assert mail["Reply-To"] == "signal@pointdecontact.test"
    reports = [json.loads(p.get_payload(decode=True)) for p in mail.walk() if p.get_filename()]
    assert reports and all(r["sender"] == {"org": "Point de Contact (FR)", "contact": "signal@pointdecontact.test",
                                           "domain": "pointdecontact.test"} == r["reporter"] for r in reports)


def decide(client: TestClient, item_id: int, choice: str) -> None:
    page = client.get(f"/review/items/{item_id}")
    answer = client.post(f"/review/items/{item_id}/decision", data={"csrf_token": csrf_of(page.text),
                                                                    "choice": choice})
    assert answer.status_code == 303, answer.text


def test_agreement_rates_per_organisation_and_category(env: Env) -> None:
    agreed, differed = seed(env, 4), seed(env, 5)
    first, second = env.signed_in("fr-analyst"), env.signed_in("fr-analyst2")
    decide(first, agreed, "baseline_csam")
    decide(second, agreed, "baseline_csam")
    decide(first, differed, "baseline_csam")
    decide(second, differed, "not_csam")
    page = env.signed_in("fr-senior").get("/review/agreement")
    assert page.status_code == 200
    assert '<tr data-category="all"><td>all categories</td><td class="pairs">2</td><td class="agreed">1</td>' \
           '<td class="rate">50%</td>' in page.text
    assert '<tr data-category="baseline_csam">' in page.text
    # The operator's senior analysts see their own organisation's rates: none of the hotline's pairs.
    other = env.signed_in("op-senior").get("/review/agreement").text
    assert '<td class="pairs">0</td>' in other and "baseline_csam" not in other
    assert env.signed_in("fr-analyst").get("/review/agreement").status_code == 403
    # The team's exposure page, too, lists the organisation's own analysts only.
    team = env.signed_in("fr-senior").get("/review/team").text
    assert 'data-analyst="fr-analyst"' in team and 'data-analyst="op-analyst"' not in team


def test_a_national_category_is_offered_to_its_organisation_and_settles_as_its_baseline_class(env: Env) -> None:
    item_id = seed(env, 6)
    fr = env.signed_in("fr-analyst")
    assert 'id="choice-fr_pedo"' in fr.get(f"/review/items/{item_id}").text
    decide(fr, item_id, "fr_pedo")
    decide(env.signed_in("fr-analyst2"), item_id, "fr_pedo")
    with env.store.session() as s:
        item = s.get(ReviewItem, item_id)
        assert item is not None and (item.status, item.classification) == ("confirmed", "baseline_csam")
    other = seed_candidate(env.store, env.blobs, ReviewStage(env.bus, env.store, env.settings.review,
                                                             country_of=lambda ip: None),
                           image(7), media_url="http://a.test/7.jpg").item_id
    op = env.signed_in("op-analyst")
    page = op.get(f"/review/items/{other}")
    assert page.status_code == 200 and "fr_pedo" not in page.text
    refused = op.post(f"/review/items/{other}/decision", data={"csrf_token": csrf_of(page.text), "choice": "fr_pedo"})
    assert refused.status_code == 422


def test_an_organisations_lists_are_its_own_unless_shared(env: Env) -> None:
    env.accounts.create_user("fr-operator", "correct horse battery", [Role.OPERATOR.value], actor="test",
                             org_id=HOTLINE)
    env.accounts.create_user("op-operator", "correct horse battery", [Role.OPERATOR.value], actor="test")
    fr, op = env.signed_in("fr-operator"), env.signed_in("op-operator")
    sent = fr.post("/dashboard/lists/import", data={"csrf_token": csrf_of(fr.get("/dashboard/lists").text),
                                                    "name": "fr-list", "algorithm": "sha256"},
                   files={"file": ("fr.txt", ("ab" * 32 + "\n").encode(), "text/plain")})
    assert sent.status_code == 200 and "fr-list" in sent.text
    csrf = csrf_of(op.get("/").text)
    assert "fr-list" not in op.get("/dashboard/lists").text
    assert op.get("/dashboard/lists/fr-list/export").status_code == 404
    assert op.post("/dashboard/lists/fr-list/disable", data={"csrf_token": csrf}).status_code == 404
    taken = op.post("/dashboard/lists/import", data={"csrf_token": csrf, "name": "fr-list", "algorithm": "sha256"},
                    files={"file": ("x.txt", ("cd" * 32 + "\n").encode(), "text/plain")})
    assert taken.status_code == 404
    assert set_shared(env.store, "fr-list", True)
    assert "fr-list" in op.get("/dashboard/lists").text
    assert op.get("/dashboard/lists/fr-list/export").status_code == 200
    assert op.post("/dashboard/lists/fr-list/disable", data={"csrf_token": csrf}).status_code == 404
    own = fr.post("/dashboard/lists/fr-list/disable", data={"csrf_token": csrf_of(fr.get("/").text)})
    assert own.status_code == 200


def test_admin_creates_an_organisation_and_hostile_input_is_refused(env: Env) -> None:
    admin = env.signed_in("op-senior")
    page = admin.get("/admin/orgs")
    assert page.status_code == 200 and "Point de Contact" in page.text
    bad = admin.post("/admin/orgs", data={"csrf_token": csrf_of(page.text), "name": "<script>x</script>",
                                          "jurisdiction": "<script>", "categories": "a=b"})
    assert bad.status_code == 422 and "<script>x" not in bad.text
    made = admin.post("/admin/orgs", data={"csrf_token": csrf_of(page.text), "name": "Jugendschutz",
                                           "jurisdiction": "de, at", "categories": "de_1=baseline_csam",
                                           "notice_email": "hotline@js.test", "opted_in": "on"})
    assert made.status_code == 303
    with env.store.session() as s:
        made_org = next(o for o in orgs.all_orgs(s) if o.name == "Jugendschutz")
        assert (made_org.jurisdiction, made_org.opted_in, made_org.notice_domain) == (("AT", "DE"), True, "js.test")
        assert orgs.route_item(s, "AT") == made_org.id
    assert env.signed_in("fr-analyst").get("/admin/orgs").status_code == 403
    # New users are placed in an organisation from the users page.
    users = admin.get("/admin/users")
    assert '<option value="2">Point de Contact</option>' in users.text
    placed = admin.post("/admin/users", data={"csrf_token": csrf_of(users.text), "name": "js-analyst",
                                              "password": "correct horse battery", "role": "analyst",
                                              "org_id": str(made_org.id)})
    assert placed.status_code == 303
    assert next(u for u in env.accounts.list_users() if u.name == "js-analyst").org_id == made_org.id
    assert '<td class="org">Jugendschutz</td>' in admin.get("/admin/users").text

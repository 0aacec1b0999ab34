"""Review for real teams, errors in place, sign-in limits and wellbeing, through the web app (issue 17)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.store.tables.review import ReviewDecisionRow, ReviewItem
from tests.unit.web.conftest import PASSWORD, Env, sign_in
from tests.unit.web.seed import csrf_of
from tests.unit.web.test_review_web import analyst, decide, queue_ids, seed, shown, status
from web.auth import Role, SignInRefusedError

HTML = {"Accept": "text/html"}


def post(client: TestClient, url: str, csrf: str, **data: object) -> object:
    return client.post(url, data={"csrf_token": csrf, **data}, headers=HTML)


# --- errors in place ------------------------------------------------------------------------------------------


def test_a_user_without_a_role_comes_back_as_the_form_with_the_values_kept(env: Env) -> None:
    env.user("root", Role.ADMIN)
    client = env.signed_in("root")
    csrf = csrf_of(client.get("/admin/users").text)
    r = client.post("/admin/users", data={"csrf_token": csrf, "name": "newbie", "password": PASSWORD},
                    headers=HTML)
    assert r.status_code == 422
    assert 'id="error-role"' in r.text and "Choose at least one role." in r.text
    assert 'value="newbie"' in r.text and "body.role" not in r.text and "Field required" not in r.text
    provider = env.provider("hostco")
    r = client.post("/admin/users", data={"csrf_token": csrf, "name": "staff", "password": PASSWORD,
                                          "role": "provider"}, headers=HTML)
    assert r.status_code == 422 and "--provider" not in r.text
    assert 'id="error-provider_id"' in r.text and "needs the provider they work for" in r.text
    assert 'value="provider" checked' in r.text  # the role chosen stays chosen
    r = client.post("/admin/users", data={"csrf_token": csrf, "name": "staff", "password": PASSWORD,
                                          "role": "provider", "provider_id": str(provider)}, headers=HTML)
    assert r.status_code == 303
    # API clients still get JSON.
    r = client.post("/admin/users", data={"csrf_token": csrf, "name": "x", "password": PASSWORD})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/json")


def test_a_refused_decision_keeps_choice_jurisdiction_note_and_reveals(env: Env) -> None:
    item = seed(env, 1)
    client, csrf = analyst(env, "alice")
    client.get(f"/review/items/{item.item_id}")
    assert client.post(f"/review/items/{item.item_id}/reveal", data={"csrf_token": csrf, "step": "unblur"}
                       ).status_code == 303
    r = post(client, f"/review/items/{item.item_id}/decision", csrf, choice="nationally_illegal",
             jurisdiction="Germany", note="seen on two hosts")
    assert r.status_code == 422  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    assert 'id="error-jurisdiction"' in text and "needs a jurisdiction" in text
    assert 'value="nationally_illegal" id="choice-nationally_illegal" data-key="2" data-jurisdiction="1" checked' \
        in text
    assert 'value="Germany"' in text and "seen on two hosts</textarea>" in text
    assert "Shown: small, greyscale" in text and "blurred" not in text.split('id="reveal-level"')[1][:60]
    # Left out entirely, the choice is asked for in words.
    r = post(client, f"/review/items/{item.item_id}/decision", csrf)
    assert r.status_code == 422 and "Choose a classification." in r.text  # type: ignore[attr-defined]
    assert status(env, item.item_id) == ("pending", None)


# --- review for teams -----------------------------------------------------------------------------------------


def test_undo_gives_the_item_back_until_someone_else_acts(env: Env) -> None:
    item = seed(env, 1)
    alice, a_csrf = analyst(env, "alice")
    bob, b_csrf = analyst(env, "bob")
    decide(alice, a_csrf, item.item_id, "baseline_csam")
    assert 'id="undo"' in alice.get("/review").text
    r = alice.post("/review/undo", data={"csrf_token": a_csrf, "item_id": item.item_id})
    assert r.status_code == 303 and r.headers["location"] == f"/review/items/{item.item_id}?done=undone"
    assert alice.get(r.headers["location"]).status_code == 200  # the item is back, not 404
    decide(alice, a_csrf, item.item_id, "harmful_abusive")
    env.clock.advance(seconds=1)
    decide(bob, b_csrf, item.item_id, "baseline_csam")  # disagreement: escalated
    assert status(env, item.item_id)[0] == "escalated"
    r = alice.post("/review/undo", data={"csrf_token": a_csrf, "item_id": item.item_id}, headers=HTML)
    assert r.status_code == 409 and "Another analyst has decided this item since" in r.text
    r = bob.post("/review/undo", data={"csrf_token": b_csrf, "item_id": item.item_id})
    assert r.status_code == 303 and status(env, item.item_id)[0] == "pending"
    # Nobody takes back another analyst's decision: bob has none left on it, alice's stays.
    r = bob.post("/review/undo", data={"csrf_token": b_csrf, "item_id": item.item_id})
    assert r.status_code == 409
    with env.store.session() as s:
        assert s.scalars(select(ReviewDecisionRow.analyst)).all() == ["alice"]


def test_a_decision_keeps_its_note_and_lists_among_my_decisions(env: Env) -> None:
    item = seed(env, 1)
    alice, csrf = analyst(env, "alice")
    r = alice.post(f"/review/items/{item.item_id}/decision",
                   data={"csrf_token": csrf, "choice": "not_csam", "note": "a <b>doll</b>, not a child"})
    assert r.status_code == 303
    with env.store.session() as s:
        assert s.scalars(select(ReviewDecisionRow.note)).one() == "a <b>doll</b>, not a child"
    page = alice.get("/review/mine").text
    assert f'data-item="{item.item_id}"' in page and "a &lt;b&gt;doll&lt;/b&gt;, not a child" in page


def test_viewing_claims_an_item_until_the_claim_expires(env: Env) -> None:
    first, second = seed(env, 1), seed(env, 2)
    alice, _ = analyst(env, "alice")
    bob, _ = analyst(env, "bob")
    assert alice.get(f"/review/items/{first.item_id}").status_code == 200
    assert first.item_id not in queue_ids(bob) and second.item_id in queue_ids(bob)
    assert "alice is viewing this item" in bob.get(f"/review/items/{first.item_id}").text
    env.clock.advance(minutes=env.settings.review.claim_minutes + 1)
    assert first.item_id in queue_ids(bob)


def test_a_seniors_unable_to_assess_keeps_the_item_open_for_another_senior(env: Env) -> None:
    item = seed(env, 1)
    alice, a_csrf = analyst(env, "alice")
    bob, b_csrf = analyst(env, "bob")
    decide(alice, a_csrf, item.item_id, "baseline_csam")
    decide(bob, b_csrf, item.item_id, "not_csam")
    sen1, s1_csrf = analyst(env, "sen1", Role.SENIOR_ANALYST)
    sen2, s2_csrf = analyst(env, "sen2", Role.SENIOR_ANALYST)
    assert decide(sen1, s1_csrf, item.item_id, "unable_to_assess") == "/review/next?done=referred"
    assert status(env, item.item_id) == ("escalated", None)
    assert item.item_id not in queue_ids(sen1) and item.item_id in queue_ids(sen2)
    assert decide(sen2, s2_csrf, item.item_id, "baseline_csam").endswith("done=settled")
    assert status(env, item.item_id) == ("confirmed", "baseline_csam")


# --- sign-in limits -------------------------------------------------------------------------------------------


def test_failures_from_one_address_under_any_names_never_lock_out_a_browser_that_signed_in(env: Env) -> None:
    env.user("admin", Role.ADMIN)
    mine = env.client()
    assert sign_in(mine, "admin").status_code == 303
    assert mine.cookies.get("ow_device")
    mine.cookies.delete("ow_session")
    stranger = env.client()
    for n in range(20):
        sign_in(stranger, "admin" if n % 2 else f"user{n}", "wrong password!!")
    refused = sign_in(stranger, "admin")
    assert refused.status_code == 429 and "try again in" in refused.text
    assert sign_in(mine, "admin").status_code == 303  # the team's own browser is not held


def test_waits_grow_with_failures_and_an_admin_unlocks(env: Env) -> None:
    env.user("root", Role.ADMIN)
    env.user("carol", Role.ANALYST)
    accounts = env.accounts

    def attempt(password: str) -> SignInRefusedError:
        with pytest.raises(SignInRefusedError) as caught:
            accounts.sign_in("carol", password, "10.0.0.1")
        return caught.value

    waits = []
    for _ in range(10):
        refused = attempt("wrong password!!")
        if refused.locked:  # each wait is served, then the next failure doubles it
            waits.append(int(re.findall(r"try again in (\d+) second", refused.reason)[0]))
            env.clock.advance(seconds=waits[-1])
    assert waits == [1, 2, 4]
    assert not attempt("wrong password!!").locked
    assert attempt(PASSWORD).locked  # even the right password waits its turn
    admin = env.signed_in("root")
    page = admin.get("/admin/users").text
    assert "sign-in held after failures" in page
    user_id = next(u.id for u in accounts.list_users() if u.name == "carol")
    assert f'action="/admin/users/{user_id}/unlock"' in admin.get(f"/admin/users/{user_id}").text  # her own page too
    assert admin.post(f"/admin/users/{user_id}/unlock", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert accounts.sign_in("carol", PASSWORD, "10.0.0.1").principal.name == "carol"
    assert "/unlock" not in admin.get(f"/admin/users/{user_id}").text


# --- wellbeing --------------------------------------------------------------------------------------------------


def test_a_due_break_holds_items_back_and_a_key_press_cannot_end_it(tmp_path: object) -> None:
    from pathlib import Path

    from tests.unit.web.conftest import make_env

    gen = make_env(Path(str(tmp_path)), break_after_items=1, break_minutes=5)
    env = next(gen)
    try:
        first, second = seed(env, 1), seed(env, 2)
        alice, csrf = analyst(env, "alice")
        env.clock.advance(seconds=1)  # a view at the very instant of signing in counts before the session
        assert alice.get(f"/review/items/{first.item_id}").status_code == 200
        held = alice.get(f"/review/items/{second.item_id}", headers=HTML)
        assert held.status_code == 423 and 'id="break-held"' in held.text
        assert alice.get(f"/review/items/{first.item_id}/media").status_code == 423
        alice.post("/review/break", data={"csrf_token": csrf})
        env.clock.advance(minutes=2)
        alice.post("/review/break", data={"csrf_token": csrf})  # pressing b again does not end it
        alice.cookies.clear()
        alice = env.signed_in("alice")  # nor does signing in again
        assert alice.get(f"/review/items/{second.item_id}").status_code == 423
        env.clock.advance(minutes=4)
        assert alice.get(f"/review/items/{second.item_id}").status_code == 200
        assert alice.get("/review/team").status_code == 403  # supervisors only
        env.user("sup", Role.SENIOR_ANALYST)
        team = env.signed_in("sup").get("/review/team").text
        assert '<tr data-analyst="alice"><td>alice</td><td class="seen">2</td>' in team
    finally:
        next(gen, None)


def test_reveal_preferences_change_the_reduced_image(env: Env) -> None:
    item = seed(env, 1)
    alice, csrf = analyst(env, "alice")
    assert shown(alice, item.item_id).mode == "L"
    r = alice.post("/review/preferences", data={"csrf_token": csrf, "blur": "on"})
    assert r.status_code == 303
    assert shown(alice, item.item_id).mode == "RGB"  # colour from the start, still small and blurred
    with env.store.session() as s:
        assert s.scalar(select(ReviewItem.status).where(ReviewItem.id == item.item_id)) == "pending"

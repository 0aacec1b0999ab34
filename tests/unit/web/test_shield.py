"""The Arachnid Shield-compatible routes: answer shapes, classification mapping, Basic auth, JSON-only errors, audit.

The unmodified client is driven against a real server in tests/integration/test_shield_sdk.py; these tests pin
the shapes and edge cases cheaply through the ASGI app.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.messages import MatchDecision, MatchHit
from core.store.tables.web import AuditEvent
from matcher.decision import Verdict
from matcher.engine import MatchOutcome
from tests.unit.web.conftest import Env, make_env
from tests.unit.web.seed import flip_bits, image, seed_candidate
from tests.unit.web.test_api import hashes_of, listed
from web.auth import Role, presented_token
from web.shield import ShieldClass, ShieldMatchType, pdq_hex, verdict


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, api_lists_check_s=0, api_max_media_bytes=4096 * 64)


def basic(env: Env, name: str = "acme", role: Role = Role.HASH_CHECK) -> dict[str, str]:
    env.user(name, role)
    token_id, secret = env.accounts.issue_token(name, "shield", actor="test")
    return {"Authorization": "Basic " + base64.b64encode(f"{token_id}:{secret}".encode()).decode()}


def b64(hex_value: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_value)).decode()


def hit(algorithm: str, classification: str | None, distance: int = 0, variant: str = "") -> MatchHit:
    return MatchHit(algorithm=algorithm, distance=distance, hash_set="known", entry_id=1, entry_label="x",
                    classification=classification, query_hash="00", variant=variant)


def outcome(decision: MatchDecision, *hits: MatchHit) -> MatchOutcome:
    return MatchOutcome(hits=list(hits), verdict=Verdict(decision, hits[0] if hits else None, "test"))


# --- mapping ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("classification", "expected"), [
    ("baseline_csam", ShieldClass.CSAM), ("nationally_illegal", ShieldClass.CSAM),
    ("harmful_abusive", ShieldClass.HARMFUL_ABUSIVE), ("not_csam", ShieldClass.NO_KNOWN_MATCH),
    ("unable_to_assess", ShieldClass.NO_KNOWN_MATCH), (None, ShieldClass.NO_KNOWN_MATCH),
])
def test_classifications_map_to_shields(classification: str | None, expected: ShieldClass) -> None:
    assert verdict(outcome(MatchDecision.MATCH, hit("sha256", classification)))[0] is expected


def test_most_severe_hit_wins_exact_beats_near_and_frames_give_timestamps() -> None:
    got = verdict(outcome(MatchDecision.MATCH, hit("pdq", "harmful_abusive", 9, "frame@3.5s"),
                          hit("pdq", "baseline_csam", 4, "frame@12.0s"), hit("pdq", "baseline_csam", 2)))
    assert got[0] is ShieldClass.CSAM and got[1] is ShieldMatchType.NEAR
    assert [(d.timestamp, d.classification) for d in got[2]] == [
        (0.0, ShieldClass.CSAM), (3.5, ShieldClass.HARMFUL_ABUSIVE), (12.0, ShieldClass.CSAM)]
    assert all(d.sha1_base32 == d.sha256_hex == "" for d in got[2])
    exact = verdict(outcome(MatchDecision.MATCH, hit("pdq", "baseline_csam", 3), hit("md5", "harmful_abusive")))
    assert exact[:2] == (ShieldClass.CSAM, ShieldMatchType.EXACT)


def test_a_review_only_perceptual_hit_is_no_known_match_but_an_exact_hash_still_counts() -> None:
    assert verdict(outcome(MatchDecision.REVIEW, hit("pdq", "baseline_csam", 28))) == (
        ShieldClass.NO_KNOWN_MATCH, None, [])
    assert verdict(outcome(MatchDecision.REVIEW, hit("pdq", "baseline_csam", 28), hit("sha1", "nationally_illegal"))
                   )[:2] == (ShieldClass.CSAM, ShieldMatchType.EXACT)


def test_pdq_base64_forms() -> None:
    value = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6339e6d6d2e6d"
    raw = bytes.fromhex(value)
    assert pdq_hex(base64.b64encode(raw).decode()) == value
    assert pdq_hex(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == value
    assert pdq_hex(base64.b64encode(raw[:31]).decode()) is None
    assert pdq_hex("not base64!") is None


def test_basic_credentials_parse_to_token_id_and_secret() -> None:
    assert presented_token("Bearer owt_x") == (None, "owt_x")
    assert presented_token("Basic " + base64.b64encode(b"12:owt_y").decode()) == (12, "owt_y")
    for bad in (b"acme:owt_y", b"12", b"12:", b":owt_y"):
        assert presented_token("Basic " + base64.b64encode(bad).decode()) is None
    assert presented_token("Basic %%%") is None and presented_token("Digest x") is None


# --- routes ----------------------------------------------------------------------------------------------------


def test_media_answer_has_the_clients_shape_and_is_audited_without_hashes(api: Env) -> None:
    body = image(1)
    listed(api, hashes_of(body)["sha256"], algorithm="sha256")
    response = api.client().post("/v1/media/", headers={**basic(api), "Content-Type": "image/jpeg"}, content=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "size_bytes": len(body),
        "sha1_base32": base64.b32encode(hashlib.sha1(body).digest()).decode().rstrip("="),
        "sha256_hex": hashlib.sha256(body).hexdigest(), "md5_hex": hashlib.md5(body).hexdigest(),
        "classification": "csam", "match_type": "exact", "near_match_details": None}
    with api.store.session() as s:
        events = [(e.actor, e.action, e.subject, e.detail) for e in s.scalars(select(AuditEvent))
                  if e.action == "api.hash_check"]
    assert events == [("acme", "api.hash_check", "/v1/media/",
                       {"outcome": "answered", "items": 1, "classification": "csam", "match_type": "exact",
                        "source": "upload"})]
    assert hashlib.sha256(body).hexdigest() not in str(events)


def test_pdq_answers_every_query_as_an_object_keyed_as_sent(api: Env) -> None:
    a, c = hashes_of(image(1))["pdq"], hashes_of(image(3))["pdq"]
    listed(api, flip_bits(a, 10), classification="harmful_abusive")
    query_a, query_c = b64(a), base64.urlsafe_b64encode(bytes.fromhex(c)).decode().rstrip("=")
    response = api.client().post("/v1/pdq/", headers=basic(api), json={"hashes": [query_a, query_c]})
    assert response.status_code == 200, response.text
    assert response.json() == {"scanned_hashes": {
        query_a: {"classification": "harmful-abusive-material", "match_type": "near",
                  "near_match_details": {"timestamp": 0.0, "sha1_base32": "", "sha256_hex": "",
                                         "classification": "harmful-abusive-material"}},
        query_c: {"classification": "no-known-match", "match_type": None, "near_match_details": None}}}


def test_url_known_to_orbweaver_is_answered_from_its_stored_hashes(api: Env) -> None:
    seeded = seed_candidate(api.store, api.blobs, api.stage, image(5), media_url="https://site.test/a.jpg",
                            distance=6)
    client, auth = api.client(), basic(api)
    known = client.post("/v1/url/", headers=auth, json={"url": "https://site.test/a.jpg"})
    assert known.status_code == 200, known.text
    assert (known.json()["sha256_hex"], known.json()["classification"], known.json()["match_type"]) == (
        seeded.sha256, "csam", "near")
    unknown = client.post("/v1/url/", headers=auth, json={"url": "https://site.test/other.jpg"})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "URL not known to orbweaver (and this server does not fetch URLs)"}


def errors(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    return {
        "no_auth": client.post("/v1/pdq/", json={"hashes": ["x"]}),
        "missing_field": client.post("/v1/pdq/", headers=auth, json={"hash": []}),
        "not_json": client.post("/v1/url/", headers={**auth, "Content-Type": "application/json"}, content=b"{no"),
        "bad_pdq": client.post("/v1/pdq/", headers=auth, json={"hashes": ["AAAA"]}),
        "method": client.get("/v1/media/", headers=auth),
        "too_large": client.post("/v1/media/", headers={**auth, "Content-Type": "image/png"},
                                 content=b"\0" * (4096 * 64 + 1)),
        "empty": client.post("/v1/media/", headers={**auth, "Content-Type": "image/png"}, content=b""),
        "not_http": client.post("/v1/url/", headers=auth, json={"url": "file:///etc/passwd"}),
    }


def test_every_refusal_is_a_json_detail_string(api: Env) -> None:
    api.user("acme", Role.HASH_CHECK)
    token_id, secret = api.accounts.issue_token("acme", "shield", actor="test")
    auth = {"Authorization": "Basic " + base64.b64encode(f"{token_id}:{secret}".encode()).decode()}
    got = errors(api.client(), auth)
    wrong_id = {"Authorization": "Basic " + base64.b64encode(f"{token_id + 1}:{secret}".encode()).decode()}
    got["wrong_id"] = api.client().post("/v1/pdq/", headers=wrong_id, json={"hashes": ["x"]})
    statuses = {name: r.status_code for name, r in got.items()}
    assert statuses == {"no_auth": 401, "wrong_id": 401, "missing_field": 422, "not_json": 422, "bad_pdq": 422,
                        "method": 405, "too_large": 413, "empty": 422, "not_http": 422}
    for name, response in got.items():
        assert isinstance(response.json()["detail"], str), name
    assert got["no_auth"].headers["www-authenticate"].startswith("Basic")
    assert got["missing_field"].json()["detail"] == (
        "body.hashes: Field required; body.hash: Extra inputs are not permitted")


def test_bearer_and_basic_share_one_rate_limit_bucket(tmp_path: Path) -> None:
    for env in make_env(tmp_path, api_lists_check_s=0, api_burst=2, api_rate_per_minute=0.01):
        env.user("acme", Role.HASH_CHECK)
        token_id, secret = env.accounts.issue_token("acme", "shield", actor="test")
        client = env.client()
        pdq = {"hashes": [b64("00" * 32)]}
        as_basic = {"Authorization": "Basic " + base64.b64encode(f"{token_id}:{secret}".encode()).decode()}
        assert client.post("/v1/pdq/", headers=as_basic, json=pdq).status_code == 200
        assert client.post("/v1/pdq/", headers={"Authorization": f"Bearer {secret}"}, json=pdq).status_code == 200
        third = client.post("/v1/pdq/", headers=as_basic, json=pdq)
        assert third.status_code == 429 and isinstance(third.json()["detail"], str)


def test_basic_credentials_are_refused_outside_the_api(api: Env) -> None:
    auth = basic(api, "root", Role.ADMIN)
    assert api.client().get("/admin/users", headers=auth).status_code == 401


def test_an_internal_error_is_a_json_500_that_names_no_input(api: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from web import shield

    def broken(*_: object) -> object:
        raise RuntimeError("secret input 1234")

    monkeypatch.setattr(shield, "verdict", broken)
    response = TestClient(api.app, raise_server_exceptions=False).post(
        "/v1/pdq/", headers=basic(api), json={"hashes": [b64("00" * 32)]})
    assert (response.status_code, response.json()) == (500, {"detail": "internal error"})

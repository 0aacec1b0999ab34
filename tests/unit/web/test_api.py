"""The hash-check API: batches of hashes and uploaded media matched against the known lists, with tokens, limits, audit.

Images are generated benign pictures (tests/unit/web/seed.py, from orbweaver.demo.imagegen); known
entries are their own hashes, or their PDQ with chosen bits flipped for near matches.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.messages import Topic
from core.store.tables.crawler import Sighting
from core.store.tables.hashing import Media
from core.store.tables.matcher import Match
from core.store.tables.review import ReviewItem
from core.store.tables.web import AuditEvent
from hashing.hasher import compute_hashes
from matcher.hashsets import import_entries, set_enabled
from matcher.lists import ListEntry
from tests.fixtures.bombs import scan_bomb_jpeg
from tests.fixtures.clock import FakeClock
from tests.unit.web.conftest import WEB_START, Env, make_env
from tests.unit.web.seed import flip_bits, image
from web.api import AUDIT_ACTION, TokenBuckets
from web.auth import Role


def api_env(tmp_path: Path, **web: Any) -> Iterator[Env]:
    """The web test app with list changes checked on every API call."""
    return make_env(tmp_path, **{"api_lists_check_s": 0, **web})


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Env]:
    yield from api_env(tmp_path)


def token(env: Env, name: str = "acme", role: Role = Role.HASH_CHECK) -> dict[str, str]:
    env.user(name, role)
    return {"Authorization": f"Bearer {env.accounts.create_token(name, 'ci', actor='test')}"}


def hashes_of(body: bytes) -> dict[str, str]:
    return {h.algorithm: h.value for h in compute_hashes(body).plain}


def listed(env: Env, value: str, algorithm: str = "pdq", *, label: str = "entry 1", list_name: str = "known",
           classification: str = "baseline_csam") -> None:
    import_entries(env.store, list_name, [ListEntry(value=value, algorithm=algorithm, label=label,
                                                    classification=classification)], source="test")


def check(client: TestClient, headers: dict[str, str], *items: tuple[str, str]) -> Any:
    response = client.post("/v1/hashes", headers=headers,
                           json={"items": [{"algorithm": a, "hash": h} for a, h in items]})
    assert response.status_code == 200, response.text
    return response.json()


# --- /v1/hashes ------------------------------------------------------------------------------------------------


def test_exact_near_and_no_match_in_one_batch(api: Env) -> None:
    a, b, c = hashes_of(image(1)), hashes_of(image(2)), hashes_of(image(3))
    listed(api, a["pdq"], label="gallery/one.jpg")
    listed(api, flip_bits(b["pdq"], 12), label="gallery/two.jpg", list_name="partner")
    listed(api, a["sha256"], algorithm="sha256", label="gallery/one.jpg")
    out = check(api.client(), token(api), ("pdq", a["pdq"]), ("PDQ", b["pdq"].upper()), ("pdq", c["pdq"]),
                ("sha256", a["sha256"]))
    exact, near, none, sha = out["items"]
    assert exact == {"index": 0, "status": "match", "decision": "match", "classification": "baseline_csam",
                     "match_type": "exact",
                     "distance": 0, "algorithm": "pdq", "hash_list": "known", "entry_label": "gallery/one.jpg",
                     "matches": [{"algorithm": "pdq", "distance": 0, "match_type": "exact",
                                  "classification": "baseline_csam", "hash_list": "known",
                                  "entry_label": "gallery/one.jpg", "query_hash": a["pdq"], "list_variant": ""}],
                     "error": None}
    assert (near["status"], near["match_type"], near["distance"], near["hash_list"], near["entry_label"]) == (
        "match", "near", 12, "partner", "gallery/two.jpg")
    assert near["decision"] == "match"  # within PDQ's confident threshold
    assert none["status"] == "no_match" and none["matches"] == [] and none["match_type"] is None
    assert (sha["status"], sha["match_type"], sha["algorithm"], sha["distance"]) == ("match", "exact", "sha256", 0)
    assert out["summary"] == {"match": 3, "no_match": 1, "error": 0}


def test_a_hash_just_outside_the_review_radius_does_not_match(api: Env) -> None:
    a = hashes_of(image(1))
    radius = api.settings.matcher.thresholds["pdq"].review
    listed(api, flip_bits(a["pdq"], radius), label="at radius")
    listed(api, flip_bits(a["pdq"], radius + 1), label="outside", list_name="other")
    out = check(api.client(), token(api), ("pdq", a["pdq"]))
    assert [m["entry_label"] for m in out["items"][0]["matches"]] == ["at radius"]


def test_bad_algorithm_and_bad_hex_are_per_item_errors(api: Env) -> None:
    a = hashes_of(image(1))
    listed(api, a["pdq"])
    out = check(api.client(), token(api), ("crc32", "deadbeef"), ("pdq", "zz" * 32), ("pdq", a["pdq"][:-2]),
                ("md5", ""), ("pdq", a["pdq"]))
    errors = [item["error"] for item in out["items"][:4]]
    assert [item["status"] for item in out["items"]] == ["error"] * 4 + ["match"]
    assert errors[0].startswith("unknown algorithm 'crc32'") and "pdq" in errors[0]
    assert errors[1] == errors[2] == "a pdq hash is 64 hex digits (0-9, a-f)"
    assert errors[3] == "a md5 hash is 32 hex digits (0-9, a-f)"
    assert out["summary"] == {"match": 1, "no_match": 0, "error": 4}


def test_dhash_and_versions_come_from_the_hashing_registry(api: Env) -> None:
    dhash = "c3" * 8
    listed(api, dhash, algorithm="dhash")
    client, headers = api.client(), token(api)
    response = client.post("/v1/hashes", headers=headers, json={"items": [
        {"algorithm": "dhash", "hash": dhash}, {"algorithm": "dhash", "hash": dhash, "version": 1},
        {"algorithm": "dhash", "hash": dhash, "version": 2}]})
    assert response.status_code == 200, response.text
    first, second, newer = response.json()["items"]
    assert (first["status"], first["algorithm"], first["distance"]) == ("match", "dhash", 0)
    assert second["status"] == "match"
    assert (newer["status"], newer["error"]) == ("error", "dhash version 2 is not one this server knows (1..1)")


def test_malformed_requests_are_refused_with_a_clear_422(api: Env) -> None:
    client, auth = api.client(), token(api)
    not_json = client.post("/v1/hashes", headers={**auth, "Content-Type": "application/json"}, content=b"{nope")
    assert not_json.status_code == 422 and "JSON" in str(not_json.json()["detail"])
    missing = client.post("/v1/hashes", headers=auth, json={"items": [{"algorithm": "pdq"}]})
    assert missing.status_code == 422
    assert missing.json()["detail"] == ["body.items.0.hash: Field required"]
    extra = client.post("/v1/hashes", headers=auth, json={"items": [], "more": 1})
    assert extra.status_code == 422 and "more" in extra.json()["detail"][0]
    wrong_type = client.post("/v1/hashes", headers=auth, json={"items": "pdq"})
    assert wrong_type.status_code == 422
    empty = client.post("/v1/hashes", headers=auth, json={"items": []})
    assert empty.status_code == 200 and empty.json() == {"items": [], "summary": {"match": 0, "no_match": 0,
                                                                                  "error": 0}}


def test_batches_over_the_limit_get_422_and_bodies_over_the_limit_413(tmp_path: Path) -> None:
    for env in api_env(tmp_path, api_max_batch=3, api_max_request_bytes=2048):
        client, auth = env.client(), token(env)
        ok = client.post("/v1/hashes", headers=auth, json={"items": [{"algorithm": "md5", "hash": "0" * 32}] * 3})
        assert ok.status_code == 200
        big = client.post("/v1/hashes", headers=auth, json={"items": [{"algorithm": "md5", "hash": "0" * 32}] * 4})
        assert big.status_code == 422 and big.json() == {"detail": ["body: 4 hashes in one request; at most 3"]}
        huge = client.post("/v1/hashes", headers=auth, json={"items": [{"algorithm": "md5", "hash": "0" * 1000}] * 3})
        assert huge.status_code == 413 and "larger than 2048 bytes" in huge.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
            yield b'{"items": ['
            for _ in range(40):
                yield b'{"algorithm": "md5", "hash": "00000000000000000000000000000000"},'
            yield b"]}"

        chunked = client.post("/v1/hashes", headers={**auth, "Content-Type": "application/json"}, content=chunks())
        assert chunked.status_code == 413
        with env.store.session() as s:
            refused = s.scalars(select(AuditEvent).where(AuditEvent.detail["outcome"].as_string() == "refused"))
            assert [(e.actor, e.detail["reason"]) for e in refused] == [("acme", "4 hashes in one request; at most 3")]
        limits = client.get("/openapi.json").json()["components"]["schemas"]["HashBatch"]["properties"]["items"]
        assert limits["maxItems"] == 3


def test_each_token_has_its_own_rate_limit_with_retry_after(tmp_path: Path) -> None:
    for env in api_env(tmp_path, api_burst=2, api_rate_per_minute=30):
        client, first, second = env.client(), token(env, "acme"), token(env, "globex")
        body = {"items": [{"algorithm": "md5", "hash": "0" * 32}]}
        assert [client.post("/v1/hashes", headers=first, json=body).status_code for _ in range(2)] == [200, 200]
        refused = client.post("/v1/hashes", headers=first, json=body)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"  # one request per 2 s at 30 per minute
        assert client.post("/v1/hashes", headers=second, json=body).status_code == 200
        env.clock.advance(seconds=1)
        assert client.post("/v1/hashes", headers=first, json=body).status_code == 429
        env.clock.advance(seconds=1)
        assert client.post("/v1/hashes", headers=first, json=body).status_code == 200
        with env.store.session() as s:
            throttled = s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.detail["outcome"].as_string() == "rate_limited"))
        assert throttled == 2


def test_token_buckets_refill_at_the_rate_up_to_the_burst() -> None:
    clock = FakeClock(WEB_START)
    buckets = TokenBuckets(per_minute=60, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(1.0)
    clock.advance(seconds=0.5)
    assert buckets.take("a") == pytest.approx(0.5)
    clock.advance(seconds=3600)
    assert [buckets.take("a") for _ in range(4)][-1] == pytest.approx(1.0)  # refilled to the burst, no more


def test_callers_without_a_token_or_of_another_role_are_refused(api: Env) -> None:
    client = api.client()
    body = {"items": [{"algorithm": "md5", "hash": "0" * 32}]}
    anonymous = client.post("/v1/hashes", json=body)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/hashes", json=body, headers={"Authorization": "Bearer owt_unknown"}).status_code == 401
    assert client.post("/v1/media", content=image(1)).status_code == 401
    analyst = token(api, "alice", Role.ANALYST)
    assert client.post("/v1/hashes", json=body, headers=analyst).status_code == 403
    assert client.post("/v1/media", content=image(1), headers=analyst).status_code == 403
    admin = token(api, "root", Role.ADMIN)
    assert client.post("/v1/hashes", json=body, headers=admin).status_code == 200


def test_a_browser_session_may_not_use_the_api(api: Env) -> None:
    api.user("acme", Role.HASH_CHECK)
    client = api.signed_in("acme")
    csrf = client.get("/").text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post("/v1/hashes", json={"items": []}, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403 and "API tokens only" in refused.json()["detail"]
    # An upload without a token is refused before any form parsing (which could spool the file to disk).
    upload = client.post("/v1/media", files=[("file", ("a.jpg", image(1), "image/jpeg"))], data={"csrf_token": csrf})
    assert upload.status_code == 401 and "API tokens" in upload.json()["detail"]


def test_list_changes_and_disabled_lists_reach_the_api(api: Env) -> None:
    a = hashes_of(image(1))
    client, auth = api.client(), token(api)
    assert check(client, auth, ("pdq", a["pdq"]))["items"][0]["status"] == "no_match"
    listed(api, a["pdq"], label="added later")
    assert check(client, auth, ("pdq", a["pdq"]))["items"][0]["entry_label"] == "added later"
    set_enabled(api.store, "known", False)
    assert check(client, auth, ("pdq", a["pdq"]))["items"][0]["status"] == "no_match"


def test_every_call_is_audited_with_counts_and_never_the_hashes(api: Env) -> None:
    a = hashes_of(image(1))
    listed(api, a["pdq"])
    check(api.client(), token(api), ("pdq", a["pdq"]), ("pdq", "0" * 64), ("bogus", "00"))
    with api.store.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == AUDIT_ACTION)).all()
    assert [(e.actor, e.subject, e.detail) for e in events] == [
        ("acme", "/v1/hashes", {"outcome": "answered", "items": 3, "match": 1, "no_match": 1, "error": 1})]


def test_openapi_documents_both_routes_their_answers_and_the_token(api: Env) -> None:
    schema = api.client().get("/openapi.json").json()
    # Besides the hash check, the partners' report routes (tests/unit/web/test_reports.py).
    assert set(schema["paths"]) == {"/v1/hashes", "/v1/media", "/v1/reports", "/v1/reports/{code}"}
    media = schema["paths"]["/v1/media"]["post"]
    assert set(media["requestBody"]["content"]) == {"application/octet-stream", "image/*", "multipart/form-data"}
    for name in ("/v1/hashes", "/v1/media"):
        path = schema["paths"][name]
        responses = path["post"]["responses"]
        assert {"200", "401", "403", "413", "422", "429"} <= set(responses)
        assert path["post"]["security"] == [{"HTTPBearer": []}]
    item = schema["components"]["schemas"]["ItemResult"]["properties"]
    assert {"classification", "match_type", "distance", "hash_list", "entry_label", "matches", "error"} <= set(item)
    assert schema["components"]["schemas"]["MatchType"]["enum"] == ["exact", "near"]


# --- /v1/media -------------------------------------------------------------------------------------------------


def test_uploaded_media_on_a_list_matches_and_corrupt_media_is_a_per_item_error(api: Env) -> None:
    known, other = image(1), image(2)
    corrupt = known[: len(known) // 3]
    listed(api, hashes_of(known)["pdq"], label="gallery/one.jpg")
    client, auth = api.client(), token(api)
    raw = client.post("/v1/media", headers={**auth, "Content-Type": "image/jpeg"}, content=known)
    assert raw.status_code == 200, raw.text
    [item] = raw.json()["items"]
    assert (item["status"], item["match_type"], item["distance"], item["entry_label"], item["size"]) == (
        "match", "exact", 0, "gallery/one.jpg", len(known))
    assert {h["algorithm"] for h in item["hashes"]} == {"md5", "sha1", "sha256", "pdq", "phash"}
    # A re-encoded copy has another SHA-256 but a close PDQ: a near match.
    near = client.post("/v1/media", headers=auth, content=image(1, quality=60)).json()["items"][0]
    assert near["status"] == "match" and near["match_type"] == "near" and 0 < near["distance"] <= 31
    multi = client.post("/v1/media", headers=auth,
                        files=[("file", ("a.jpg", known, "image/jpeg")), ("file", ("b.bin", corrupt, "image/jpeg")),
                               ("file", ("c.jpg", other, "image/jpeg"))])
    assert multi.status_code == 200, multi.text
    first, bad, third = multi.json()["items"]
    assert first["status"] == "match" and third["status"] == "no_match"
    assert bad["status"] == "error" and bad["error"].startswith("corrupt")
    assert {h["algorithm"] for h in bad["hashes"]} == {"md5", "sha1", "sha256"}  # exact hashes still computed
    assert multi.json()["summary"] == {"match": 1, "no_match": 1, "error": 1}


def test_a_scan_bomb_upload_is_stopped_within_twice_the_limit(tmp_path: Path) -> None:
    # tests/fixtures/bombs.py: 7000 x 7000 (under the API's 50 M pixel limit), one AC scan 1500 more
    # times; 15 s or more to decode in-process. [hashing] time_limit_s = 2 kills its worker at 2.5 s.
    limit_s = 2.0
    hostile = scan_bomb_jpeg(7000, 1500)
    env = make_env(tmp_path, hashing={"time_limit_s": limit_s}, api_lists_check_s=0)
    api = next(env)
    try:
        client, auth = api.client(), token(api)

        def post(*bodies: bytes) -> tuple[float, list[dict[str, Any]]]:
            started = time.monotonic()
            response = client.post("/v1/media", headers=auth,
                                   files=[("file", (f"{i}.jpg", b, "image/jpeg")) for i, b in enumerate(bodies)])
            assert response.status_code == 200, response.text
            return time.monotonic() - started, response.json()["items"]

        # the same request without the bomb: starting the decoding processes is not the deadline's time
        baseline, _ = post(image(1), image(2))
        elapsed, (first, bad, third) = post(image(1), hostile, image(2))
        assert elapsed - baseline < 2 * limit_s, f"{elapsed:.1f} s with the bomb, {baseline:.1f} s without"
        assert first["status"] == third["status"] == "no_match"
        assert bad["status"] == "error" and bad["error"].startswith("timeout: ")
        assert {h["algorithm"] for h in bad["hashes"]} == {"md5", "sha1", "sha256"}
    finally:
        next(env, None)


def test_corrupt_media_listed_by_md5_still_matches(api: Env) -> None:
    corrupt = b"\xff\xd8\xff\xe0 not really a jpeg"
    listed(api, hashes_of(corrupt)["md5"], algorithm="md5", label="broken file")
    item = api.client().post("/v1/media", headers=token(api), content=corrupt).json()["items"][0]
    assert item["status"] == "match" and item["entry_label"] == "broken file" and item["error"]


def test_malformed_and_oversized_uploads_are_refused(tmp_path: Path) -> None:
    for env in api_env(tmp_path, api_max_media_items=2, api_max_media_bytes=200_000):
        client, auth = env.client(), token(env)
        assert client.post("/v1/media", headers=auth, content=b"").status_code == 422
        three = [("file", (f"{i}.jpg", image(i), "image/jpeg")) for i in range(3)]
        too_many = client.post("/v1/media", headers=auth, files=three)
        assert too_many.status_code == 422 and "more than 2 files" in too_many.json()["detail"][0]
        wrong = client.post("/v1/media", headers=auth, files=[("image", ("a.jpg", image(1), "image/jpeg"))])
        assert wrong.status_code == 422 and "'file'" in wrong.json()["detail"][0]
        no_boundary = client.post("/v1/media", headers={**auth, "Content-Type": "multipart/form-data"},
                                  content=b"--x\r\n")
        assert no_boundary.status_code == 422 and "boundary" in no_boundary.json()["detail"][0]
        big = client.post("/v1/media", headers=auth, content=b"\0" * 200_001)
        assert big.status_code == 413
        chunked = client.post("/v1/media", headers=auth, content=iter([b"\0" * 100_000] * 3))
        assert chunked.status_code == 413


def test_uploaded_media_is_never_stored_published_or_logged(
    api: Env, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    body = image(7)
    listed(api, hashes_of(body)["pdq"])
    caplog.set_level(logging.DEBUG)
    client, auth = api.client(), token(api)
    assert client.post("/v1/media", headers=auth, content=body).json()["items"][0]["status"] == "match"
    assert client.post("/v1/media", headers=auth, files=[("file", ("x.jpg", body, "image/jpeg"))]).status_code == 200
    with api.store.session() as s:
        for table in (Media, Sighting, Match, ReviewItem):
            assert s.scalar(select(func.count()).select_from(table)) == 0, table
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
    assert all(api.bus.lag(str(topic), "probe") == 0 for topic in Topic)
    # No 64-byte run of the media (raw, hex or base64) is anywhere in the store's or the bus's files...
    probes = [body[i:i + 64] for i in range(0, len(body) - 64, 997)]
    for name in ("store.db", "bus.db"):
        for path in tmp_path.glob(name + "*"):
            data = path.read_bytes()
            assert not any(p in data or p.hex().encode() in data for p in probes), path
    with sqlite3.connect(tmp_path / "store.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                text = repr(row)
                assert not any(base64.b64encode(p[:48]).decode() in text for p in probes), table
    # ...nor in anything logged or printed.
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert not any(p.hex() in logged or base64.b64encode(p[:48]).decode() in logged for p in probes)
    assert "\\xff\\xd8" not in logged

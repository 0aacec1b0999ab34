"""The survivor page: public, in the report pages' languages, takes only hashes (bounded, rate-limited, CSRF-bound)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.messages import HashSetKind
from matcher.hashsets import list_sets
from matcher.survivors import SURVIVOR_LIST, latest_submissions
from tests.unit.web.conftest import Env, make_env
from web import report_words, survivor_words
from web.auth import Role

PDQ = "f" * 16 + "0" * 16 + "a5" * 16
TOKEN = re.compile(r'name="survivor-csrf" content="([^"]+)"')


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, survivor_max_request_bytes=4096, survivor_burst=3, survivor_rate_per_minute=1.0)


def visit(env: Env, lang: str = "en") -> tuple[TestClient, str]:
    client = env.client()
    page = client.get(f"/survivor?lang={lang}")
    assert page.status_code == 200
    found = TOKEN.search(page.text)
    assert found is not None
    return client, found.group(1)


def body(files: int = 1, note: str = "") -> dict[str, Any]:
    return {"files": [{"md5": hashlib.md5(str(i).encode()).hexdigest(),
                       "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
                       "pdq": [{"hash": PDQ, "quality": 80, "variant": ""}]} for i in range(files)], "note": note}


def post(client: TestClient, token: str, payload: Any, **headers: str) -> Any:
    return client.post("/survivor/hashes", content=json.dumps(payload),
                       headers={"Content-Type": "application/json", "X-CSRF-Token": token, **headers})


def test_the_page_is_public_speaks_french_and_posts_no_file(env: Env) -> None:
    page = env.client().get("/survivor", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert page.status_code == 200
    assert '<html lang="fr" dir="ltr">' in page.text and "Retrouver les copies de vos propres images" in page.text
    hostile = "<script>alert(1)</script>"
    english = env.client().get("/survivor", params={"lang": hostile}, headers={"Accept-Language": hostile})
    assert "Find copies of your own pictures" in english.text and '<html lang="en" dir="ltr">' in english.text
    assert "alert(1)" not in english.text
    # The file input is in no form: the only way out is the page script's JSON of hashes.
    assert 'type="file"' in page.text and "<form" not in page.text.split("<main>")[1]
    assert '<script src="/static/survivor-hashes.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "media-src blob:" in policy and "connect-src" not in policy


def test_hashes_become_a_survivor_list_with_a_reference_code(env: Env) -> None:
    client, token = visit(env)
    answer = post(client, token, body(files=2, note="please find these"))
    assert answer.status_code == 200, answer.text
    code = answer.json()["code"]
    assert re.fullmatch(r"S-[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code)
    assert answer.json() == {"code": code, "files": 2, "hashes": 6, "low_quality": 0}
    (listed,) = list_sets(env.store)
    assert (listed.name, listed.kind) == (SURVIVOR_LIST, HashSetKind.SURVIVOR)
    assert [(s.code, s.note) for s in latest_submissions(env.store)] == [(code, "please find these")]


def test_without_the_page_token_or_as_a_form_nothing_is_stored(env: Env) -> None:
    client, token = visit(env)
    assert post(client, "forged", body()).status_code == 403
    assert post(env.client(), token, body()).status_code == 403  # the token without the page's cookie
    as_form = client.post("/survivor/hashes", data={"files": "x"}, headers={"X-CSRF-Token": token})
    assert as_form.status_code == 415
    bad = body()
    bad["files"][0]["md5"] = "<script>alert(1)</script>" + "0" * 7
    assert post(client, token, bad).status_code == 422
    assert post(client, token, {"files": [], "note": ""}).status_code == 422
    assert list_sets(env.store) == []


def test_an_oversized_body_is_413_before_it_is_read(small: Env) -> None:
    client, token = visit(small)
    answer = post(client, token, body(files=40))
    assert answer.status_code == 413
    assert list_sets(small.store) == []


def test_a_flood_from_one_address_is_429_until_the_bucket_refills(small: Env) -> None:
    client, token = visit(small)
    assert [post(client, token, body()).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = post(client, token, body())
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    small.clock.advance(minutes=1)
    assert post(client, token, body()).status_code == 200


def test_analysts_see_the_note_escaped_and_others_are_refused(env: Env) -> None:
    client, token = visit(env)
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    code = post(client, token, body(note=hostile)).json()["code"]
    analyst = env.signed_in(env.user("ana", Role.ANALYST))
    page = analyst.get("/review/survivors")
    assert page.status_code == 200 and code in page.text
    assert hostile not in page.text and "&lt;script&gt;alert(" in page.text
    operator = env.signed_in(env.user("opal", Role.OPERATOR))
    assert operator.get("/review/survivors").status_code == 403
    anonymous = env.client().get("/review/survivors", headers={"Accept": "text/html"})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_the_page_speaks_every_language_of_the_report_pages_translated(env: Env) -> None:
    assert set(survivor_words.LANGUAGES) == set(report_words.LANGUAGES)  # the public pages speak the same languages
    english = survivor_words.words("en")
    client = env.client()
    for language in survivor_words.LANGUAGES:
        text = survivor_words.words(language)
        if language != "en":  # every sentence translated (the one-word "File" may read the same, as in Filipino)
            assert [k for k in text if text[k] == english[k] and len(english[k].split()) > 1] == [], language
        page = client.get("/survivor", params={"lang": language})
        assert page.status_code == 200
        tag = language.replace("_", "-")
        direction = "rtl" if language in report_words.RIGHT_TO_LEFT else "ltr"
        assert f'<html lang="{tag}" dir="{direction}">' in page.text, language
        assert text["send"] in page.text and f'hreflang="{tag}"' in page.text
    chinese = client.get("/survivor", headers={"Accept-Language": "zh-TW,zh;q=0.8"})
    assert '<html lang="zh-Hant"' in chinese.text and survivor_words.words("zh_Hant")["title"] in chinese.text

"""Public and partner reports: the /report pages in every language, the partner API, derived status, hostile input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.store.tables.crawler import Page, Report, ReportedUrl, Sighting
from core.store.tables.notifier import NoticeItem
from core.store.tables.review import ReviewItem
from crawler.reports import ReportStatus, parse_code
from notifier.i18n import available_languages
from orbweaver.cli import main
from tests.unit.web.conftest import Env, make_env
from web.auth import Role
from web.report_words import KEYS, LANGUAGES, pick_language, words
from web.reports import lookup, report_statistics

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from make_env(tmp_path_factory.mktemp("reports"), report_burst=1000)


@pytest.fixture(autouse=True)
def fresh_buckets(env: Env) -> None:
    # Every test starts with the address's bucket full again (the app's clock is the fake one).
    env.clock.advance(days=1)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def send(client: TestClient, urls: str, **fields: str) -> tuple[int, str]:
    token = csrf(client.get("/report").text)
    answer = client.post("/report", data={"csrf_token": token, "urls": urls, "where_seen": "website", **fields})
    return answer.status_code, answer.text


def code_of(page: str) -> str:
    found = re.search(r'id="report-code" dir="ltr">([^<]+)<', page)
    assert found is not None
    return found.group(1)


def shown(client: TestClient, code: str, lang: str = "en") -> tuple[int, list[tuple[str, str]], str]:
    token = csrf(client.get("/report/status").text)
    page = client.post("/report/status", data={"csrf_token": token, "code": code, "lang": lang})
    return page.status_code, re.findall(r'<td dir="ltr">([^<]*)</td><td data-status="([^"]+)"', page.text), page.text


def test_the_page_speaks_every_language_the_notices_speak(env: Env) -> None:
    assert sorted(LANGUAGES) == sorted(available_languages())
    client = env.client()
    english = words("en")
    for lang in LANGUAGES:
        text = words(lang)
        assert set(text) == set(KEYS) and all(v.strip() for v in text.values()), lang
        if lang != "en":
            # Every sentence is translated (short words may coincide, e.g. "Status" in several languages).
            assert text["intro"] != english["intro"] and text["thanks"] != english["thanks"], lang
        page = client.get("/report", params={"lang": lang})
        assert page.status_code == 200 and f'lang="{lang.replace("_", "-")}"' in page.text
        assert text["title"].replace("'", "&#39;") in page.text, lang
    assert 'dir="rtl"' in client.get("/report?lang=ar").text
    french = client.get("/report", headers={"Accept-Language": "de;q=0.5, fr-CA, en;q=0.8"})
    assert words("fr")["send"] in french.text
    assert pick_language("zh-TW", None) == "zh_Hant" and pick_language("xx", "xx-YY") == "en"


def test_a_french_report_gets_a_code_and_two_reporters_of_one_url_both_see_it(env: Env) -> None:
    client = env.client()
    status, page = send(client, "http://pages.test/one\nhttp://pages.test/two", lang="fr")
    assert status == 200 and words("fr")["thanks"].replace("'", "&#39;") in page
    first = code_of(page)
    assert parse_code(first) is not None
    status, page = send(env.client(), "HTTP://PAGES.test/one#again")
    second = code_of(page)
    assert first != second
    for code in (first, second):
        got, rows, page = shown(client, code, "de")
        assert got == 200 and ("http://pages.test/one", "received") in rows
        assert words("de")["received"] in page
    with env.store.session() as s:
        assert s.scalar(select(ReportedUrl.id).where(ReportedUrl.url == "http://pages.test/one")) is not None
        assert len(s.scalars(select(ReportedUrl)).all()) >= 2
    missing = shown(client, "0000000000")
    assert missing[0] == 404 and missing[1] == []


def test_status_is_derived_from_the_crawl_review_and_notices(env: Env, tmp_path: Path) -> None:
    client = env.client()
    code = code_of(send(client, "http://derive.test/page")[1])
    with env.store.session() as s:
        campaign = s.scalar(select(ReportedUrl.campaign_id).where(ReportedUrl.url == "http://derive.test/page"))
    assert campaign is not None

    def status() -> str:
        rows = shown(client, code)[1]
        assert len(rows) == 1
        return rows[0][1]

    assert status() == "received"
    now = env.clock()
    with env.store.session() as s:
        s.add(Page(campaign_id=campaign, url="http://derive.test/page", http_status=200, depth=0, media_found=3,
                   fetched_at=now))
        for n, sha in enumerate(("a" * 64, "b" * 64)):
            s.add(Sighting(message_id=f"m-{n}", campaign_id=campaign, sha256=sha, page_url="http://derive.test/page",
                           media_url=f"http://derive.test/{n}.jpg", final_url=f"http://derive.test/{n}.jpg",
                           fetched_at=now))
    assert status() == "received"  # fetched, but one of its three media is still being hashed
    with env.store.session() as s:
        s.add(Sighting(message_id="m-failed", campaign_id=campaign, sha256=None, page_url="http://derive.test/page",
                       media_url="http://derive.test/gone.jpg", final_url="http://derive.test/gone.jpg",
                       fetched_at=now, error="404"))
        s.add(ReviewItem(sha256="a" * 64, status="pending", best_algorithm="pdq", best_distance=10))
    assert status() == "received"  # every media accounted for, but an analyst has not decided the match yet
    with env.store.session() as s:
        item = s.scalars(select(ReviewItem).where(ReviewItem.sha256 == "a" * 64)).one()
        item.status, item.classification = "confirmed", "baseline_csam"
        item_id = item.id
    assert status() == "assessed"  # the other media matched nothing: nothing actionable
    provider = env.provider("derive-host")
    with env.store.session() as s:
        s.add(NoticeItem(review_item_id=item_id, provider_id=provider, media_url="http://derive.test/0.jpg",
                         page_url="http://derive.test/page", host="derive.test", sha256="a" * 64,
                         classification="baseline_csam", first_seen=now, last_seen=now,
                         first_noticed_at=now + timedelta(hours=2)))
    assert status() == "removal_requested"
    with env.store.session() as s:
        noticed = s.scalars(select(NoticeItem).where(NoticeItem.sha256 == "a" * 64)).one()
        noticed.status, noticed.removed_at = "removed", now + timedelta(hours=6)
    assert status() == "removed"
    # The reporter sees four words, never what was found: no hashes, classes or counts on the page.
    page = shown(client, code)[2]
    assert "a" * 64 not in page and "baseline" not in page and "derive.test/0.jpg" not in page
    stats = report_statistics(env.store, since=now - timedelta(minutes=1))
    assert (stats.reports, stats.actionable) == (1, 1)
    assert stats.notice_hours_median == pytest.approx(2.0) and stats.removal_hours_median == pytest.approx(6.0)
    operator = env.signed_in(env.user("stats-operator", Role.OPERATOR))
    figures = operator.get("/dashboard/reports")
    assert figures.status_code == 200 and "median 2.0 h" in figures.text and "median 6.0 h" in figures.text
    config = tmp_path / "orbweaver.toml"
    config.write_text(f'[core]\ndata_dir = "{tmp_path}"\nstore = "{env.store.url}"\n')
    out = CliRunner().invoke(main, ["report", "stats", "--json", "--config", str(config)])
    assert out.exit_code == 0, out.output
    printed = json.loads(out.output.strip().splitlines()[-1])
    # Every report of this module's store: the one above is its only actionable one.
    assert printed["actionable"] == 1 and printed["reports"] >= 3
    assert printed["notice_hours"]["median"] == pytest.approx(2.0)


def test_script_in_every_field_comes_back_as_text(env: Env) -> None:
    client = env.client()
    fields = {"description": SCRIPT, "contact": SCRIPT, "lang": SCRIPT}
    # A refused report draws the form again with everything typed, escaped.
    status, page = send(client, f"{SCRIPT}\njavascript:{SCRIPT}", **fields)
    assert status == 422 and SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # A field over its length is refused by validation; a browser gets the form again, not JSON.
    token = csrf(client.get("/report").text)
    long = client.post("/report", headers={"Accept": "text/html"}, data={
        "csrf_token": token, "urls": SCRIPT, "where_seen": SCRIPT, "description": SCRIPT * 100, "lang": "fr"})
    assert long.status_code == 422 and 'id="send-report"' in long.text and SCRIPT not in long.text
    assert words("fr")["bad_urls"] in long.text
    status, page = send(client, f"http://hostile.test/{SCRIPT}", **fields)
    assert status == 200
    rows = shown(client, code_of(page))[2]
    assert SCRIPT not in rows and "http://hostile.test/&lt;script&gt;" in rows
    status_page = client.post("/report/status", data={"csrf_token": csrf(client.get("/report/status").text),
                                                       "code": SCRIPT, "lang": SCRIPT})
    assert status_page.status_code == 404 and SCRIPT not in status_page.text
    # Nothing about the reporter's connection is kept with the report.
    with env.store.session() as s:
        for report in s.scalars(select(Report)):
            assert "testclient" not in repr([getattr(report, c.name) for c in Report.__table__.columns])


def test_forms_without_their_token_and_oversized_bodies_are_refused(env: Env) -> None:
    client = env.client()
    client.get("/report")
    no_token = client.post("/report", data={"urls": "http://x.test/", "where_seen": "website"})
    assert no_token.status_code == 403 and words("en")["expired"] in no_token.text
    limit = env.settings.web.report_max_request_bytes
    for path in ("/report", "/v1/reports"):
        big = client.post(path, content=b"u" * (limit + 1), headers={"Content-Type": "application/octet-stream"})
        assert big.status_code == 413, path
    with env.store.session() as s:
        assert s.scalar(select(ReportedUrl.id).where(ReportedUrl.url == "http://x.test/")) is None


def test_partners_report_by_api_and_read_the_status_back(env: Env) -> None:
    env.user("partner", Role.HASH_CHECK)
    token = env.accounts.create_token("partner", "reports", actor="test")
    api = env.client()
    auth = {"Authorization": f"Bearer {token}"}
    sent = api.post("/v1/reports", headers=auth, json={"urls": ["http://partner.test/x", "http://pages.test/one"],
                                                       "where_seen": "social_media", "reference": SCRIPT})
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert [u["status"] for u in body["urls"]] == ["received", "received"]
    again = api.get(f"/v1/reports/{body['code']}", headers=auth)
    assert again.status_code == 200 and again.json() == body
    assert api.get("/v1/reports/0000000000", headers=auth).status_code == 404
    assert api.post("/v1/reports", headers=auth, json={"urls": ["http://p.test/"], "where_seen": "tv"}).status_code \
        == 422
    assert api.post("/v1/reports", headers=auth, json={"urls": ["mailto:x@y"], "where_seen": "other"}).status_code \
        == 422
    assert api.post("/v1/reports", json={"urls": ["http://p.test/"], "where_seen": "other"}).status_code == 401
    found = lookup(env.store, body["code"])
    assert found is not None and found[0] == ("http://partner.test/x", ReportStatus.RECEIVED)


def test_a_flood_from_one_address_is_slowed_down(tmp_path: Path) -> None:
    for env in make_env(tmp_path, report_burst=3):
        client = env.client()
        answers = [send(client, f"http://flood.test/{n}")[0] for n in range(4)]
        assert answers == [200, 200, 200, 429]
        flood = client.post("/report", data={"urls": "http://flood.test/x", "where_seen": "other"})
        assert flood.status_code == 429 and int(flood.headers["Retry-After"]) >= 1
        refused = client.post("/report/status", data={"csrf_token": csrf(client.get("/report/status").text),
                                                       "code": "0000000000"})
        assert refused.status_code == 429 and words("en")["too_many"] in refused.text
        with env.store.session() as s:
            assert len(s.scalars(select(Report)).all()) == 3
        env.clock.advance(minutes=1)
        assert send(client, "http://flood.test/later")[0] == 200

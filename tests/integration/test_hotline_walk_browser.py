"""Issue 16 "done when" in Chromium: a French report, a hotline's triage and notice, removal, a copy found.

Real parts: the web app under uvicorn on loopback, Debian's Chromium (tests/fixtures/browser.py), a
loopback HTTP site (tests/fixtures/traps.py) serving a thread page with two benign generated JPEGs
(tests.unit.web.seed.image), the crawler worker's real fetch of the reported page, an aiosmtpd server
receiving the notices, and the crawler's RecheckStage. Hashing, matching, review and the notifier run
in process over the app's own embedded bus, SQLite store and blob folder, as test_triage_flow.py does.
Hosting country: review's ``country_of`` maps 127.0.0.1 to FR, covered by an opted-in hotline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from core.messages import (
    FetchOrigin,
    HashSetChange,
    MatchCandidate,
    Message,
    NoticeRequest,
    RecheckOutcome,
    RecheckResult,
    Topic,
    sha256_hex,
)
from core.store.tables.review import ReviewItem, ReviewKind
from crawler.campaigns import Campaigns, CampaignSpec
from crawler.recheck import RecheckStage, SafeFetcher
from crawler.reports import ReportStatus
from crawler.safety import AllowList
from crawler.worker import CrawlerWorker
from hashing.hasher import compute_hashes
from hashing.settings import HashingSettings
from hashing.stage import HashingStage
from matcher.engine import Matcher
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from matcher.settings import MatcherSettings
from matcher.stage import MatchingStage
from notifier.channels import build_channels
from notifier.hosting import HostingLookup
from notifier.providers import ProviderRecord, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from orbweaver.runtime import crawl_infrastructure
from orbweaver.settings import Settings
from review import orgs
from review.stage import ReviewStage
from tests.fixtures.browser import chromium_browser
from tests.fixtures.clock import FakeClock
from tests.fixtures.drain import drain
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.traps import Route, TrapServer, serve
from tests.fixtures.webapp import ServedApp
from tests.fixtures.xarf_reports import notice_reports
from tests.unit.notifier.test_hosting import TableGeo
from tests.unit.web.conftest import FAST_ARGON2, PASSWORD
from tests.unit.web.seed import image

pytestmark = pytest.mark.integration

KNOWN, NEW = image(171), image(172)
COPY = image(172, quality=75)
"""The newly classified image re-encoded: another SHA-256, a near PDQ."""
THREAD, GALLERY = "/forum/fil-1.html", "/autre/galerie.html"
HOTLINE_NAME = "Point de Contact (hotline FR)"
HOTLINE_EMAIL = "signalement@pointdecontact.test"


def html(*images: str) -> Route:
    return Route(body=("<html><body>" + "".join(f'<img src="{i}">' for i in images) + "</body></html>").encode())


def jpeg(body: bytes) -> Route:
    return Route(body=body, content_type="image/jpeg")


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/review")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/review")


def report_status(page: Page, base: str, code: str) -> list[str]:
    """What the reporter's status page shows for their code (the status keys, one per URL)."""
    page.goto(f"{base}/report/status?lang=fr")
    page.fill("#code", code)
    page.click("#check-report")
    page.wait_for_selector("#report-status")
    statuses: list[str] = page.eval_on_selector_all("#report-status td[data-status]",
                                                    "cells => cells.map(c => c.dataset.status)")
    return statuses


def test_a_french_report_is_triaged_by_the_hotline_noticed_in_its_name_removed_and_its_copy_found(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))  # near the crawler's own (real) timestamps
    monkeypatch.setattr("crawler.recheck.utcnow", clock)
    settings = Settings.model_validate({
        "core": {"data_dir": str(tmp_path / "state"), "bus": f"embedded:{tmp_path / 'bus.db'}",
                 "store": f"sqlite:///{tmp_path / 'store.db'}", "blobs": str(tmp_path / "blobs")},
        "web": FAST_ARGON2,
        "review": {"required_assessments": 1, "local_hash_list": "local"},
        "crawler": {"allow_private_hosts": ["127.0.0.1"], "download_delay_s": 0, "autothrottle": False,
                    "operator": "hotline walk test"}})
    site = TrapServer("127.0.0.1")
    site.routes.update({THREAD: html("/img/a.jpg", "/img/b.jpg"), "/img/a.jpg": jpeg(KNOWN),
                        "/img/b.jpg": jpeg(NEW)})
    app = ServedApp(tmp_path, settings, clock=clock)
    app.start()
    try:
        with serve(site), chromium_browser() as browser:
            _walk(browser, app, site, clock, settings, smtp_server)
    finally:
        app.stop()


def _walk(browser: Browser, app: ServedApp, site: TrapServer, clock: FakeClock, settings: Settings,
          smtp_server: SmtpServer) -> None:
    store, bus, blobs, base = app.store, app.bus, app.blobs, app.base_url
    with store.session() as s:
        hotline = orgs.create(s, "Point de Contact", kind=orgs.OrgKind.HOTLINE, jurisdiction=["FR"], opted_in=True,
                              notice_name=HOTLINE_NAME, notice_email=HOTLINE_EMAIL)
    accounts = app.app.state.ctx.accounts
    accounts.create_user("amelie", PASSWORD, ["analyst"], actor="test", org_id=hotline)
    accounts.create_user("olivia", PASSWORD, ["analyst"], actor="test")  # the operator's organisation
    import_entries(store, "known", [ListEntry(value=h.value, algorithm="pdq", label="known-171",
                                              classification="baseline_csam")
                                    for h in compute_hashes(KNOWN).plain if h.algorithm == "pdq"], source="test")
    upsert_providers(store, [ProviderRecord(name="Hébergeur Exemple", abuse_email="abuse@hebergeur.test",
                                            cidrs=["127.0.0.0/8"], languages=["fr"], channel="smtp")])
    hashing = HashingStage(bus, store, blobs, HashingSettings())
    matching = MatchingStage(bus, store, blobs, Matcher(store, MatcherSettings()), replica_id="t")
    review = ReviewStage(bus, store, settings.review, blobs, clock=clock,
                         country_of=lambda ip: "FR" if ip == "127.0.0.1" else None)
    nsettings = NotifierSettings.model_validate({
        "channel": "smtp", "smtp": {"host": smtp_server.host, "port": smtp_server.port, "timeout_s": 5},
        "sender": "Test Operator <notices@operator.test>", "operator_name": "Test Operator", "batch_window_s": 0,
        "hotline_policy": "none", "portal_base_url": "https://orbweaver.example",
        "outbox": {"dir": str(settings.core.data_dir / "outbox")}})
    notifier = NotifierStage(bus, store, nsettings, build_channels(nsettings, store), clock=clock,
                             hosting=HostingLookup(geo=TableGeo({"127.0.0.1": ("FR", "EXEMPLE-AS")}),
                                                   hotline_policy="none"))
    worker = CrawlerWorker(crawl_infrastructure(settings), Campaigns(store))

    def pipeline() -> tuple[list[MatchCandidate], list[NoticeRequest]]:
        """Hashing, matching and review over what the crawl published; the notifier takes the notice requests."""
        drain(bus, Topic.MEDIA_FETCHED, "hashing", hashing.handle)
        drain(bus, Topic.MEDIA_HASHED, "matcher", matching.handle)
        found = drain(bus, Topic.MATCH_CANDIDATES, "review", review.handle)
        return [m for m in found if isinstance(m, MatchCandidate)], notices()

    def notices() -> list[NoticeRequest]:
        return [m for m in drain(bus, Topic.NOTICE_REQUESTS, "notifier", notifier.handle)
                if isinstance(m, NoticeRequest)]

    def reporters_of(index: int) -> list[tuple[str, str, str]]:
        """The X-ARF reporter and sender (organisation, contact) of the ``index``th mail the host received."""
        reports = notice_reports(smtp_server.received[index].message())
        return [(r[p]["org"], r[p]["contact"], r["url"]) for r in reports for p in ("reporter", "sender")]

    # 1. A reporter in French: the public form in the browser, the code read off the answer page.
    reporter = browser.new_context(locale="fr-FR").new_page()
    reporter.goto(f"{base}/report?lang=fr")
    assert reporter.get_attribute("html", "lang") == "fr"
    reporter.fill("#urls", site.url(THREAD))
    reporter.check("input[name=where_seen][value=website]")
    reporter.click("#send-report")
    code = reporter.inner_text("#report-code", timeout=10_000).strip()
    assert len(code.replace("-", "")) == 10
    assert report_status(reporter, base, code) == [ReportStatus.RECEIVED]

    # 2. The crawler fetches the reported page (depth 0); hashing, matching, review follow.
    assert worker.run_once() is not None
    assert site.hits[THREAD] == 1 and site.hits["/img/a.jpg"] == 1 and site.hits["/img/b.jpg"] == 1
    candidates, requested = pipeline()
    assert sorted(len(c.hits) for c in candidates) == [0, 1]
    assert all(c.ref.origin is FetchOrigin.REPORT for c in candidates)
    with store.session() as s:
        items = {i.sha256: (i.kind, i.status, i.org_id, i.id) for i in s.scalars(select(ReviewItem))}
    assert {k: v[:3] for k, v in items.items()} == {
        sha256_hex(KNOWN): (ReviewKind.MATCH, "confirmed", hotline),
        sha256_hex(NEW): (ReviewKind.TRIAGE, "pending", hotline)}
    triage_id = items[sha256_hex(NEW)][3]

    # 3. The known image is noticed at once, in the hotline's name (its country's organisation confirmed it).
    assert [(r.sha256, r.ref.page_url) for r in requested] == [(sha256_hex(KNOWN), site.url(THREAD))]
    assert len(notifier.flush()) == 1
    assert smtp_server.received[0].recipients == ["abuse@hebergeur.test"]
    assert {(org, contact) for org, contact, _ in reporters_of(0)} == {(HOTLINE_NAME, HOTLINE_EMAIL)}

    # 4. The operator's analyst never sees the hotline's triage item: not queued, not in triage, 404 by URL.
    other = browser.new_context().new_page()
    sign_in(other, base, "olivia")
    assert other.locator(f"tr[data-item='{triage_id}']").count() == 0
    other.click("#tab-triage")
    other.wait_for_url(f"{base}/review?kind=triage")
    assert other.is_visible("#queue-empty")
    known_id = items[sha256_hex(KNOWN)][3]
    for path in (f"/review/items/{triage_id}", f"/review/items/{triage_id}/media", f"/review/items/{known_id}"):
        response = other.goto(base + path)
        assert response is not None and response.status == 404, path
    other.context.close()

    # 5. The hotline's analyst opens the Triage tab, reveals the image step by step and classifies it.
    analyst = browser.new_context().new_page()
    sign_in(analyst, base, "amelie")
    analyst.click("#tab-triage")
    analyst.wait_for_url(f"{base}/review?kind=triage")
    analyst.click(f"tr[data-item='{triage_id}'] a")
    analyst.wait_for_url(f"{base}/review/items/{triage_id}")
    assert analyst.inner_text("#page-url") == site.url(THREAD)
    for shown in ("Shown: small, greyscale", "Shown: small, colour", "Shown: full size, colour"):
        with analyst.expect_navigation():
            analyst.click("#reveal")
        assert analyst.inner_text("#reveal-level") == shown
    analyst.check("#choice-baseline_csam")
    with analyst.expect_navigation():
        analyst.click("#submit-decision")
    assert "done=settled" in analyst.url
    analyst.context.close()

    # 6. Its notice goes out in the hotline's name; the local list learns the image.
    [request] = notices()
    assert (request.sha256, request.ref.page_url) == (sha256_hex(NEW), site.url(THREAD))
    assert len(notifier.flush()) == 1 and len(smtp_server.received) == 2
    assert set(reporters_of(1)) == {(HOTLINE_NAME, HOTLINE_EMAIL, site.url("/img/b.jpg"))}
    assert smtp_server.received[1].message()["Reply-To"] == HOTLINE_EMAIL
    for change in drain(bus, Topic.HASHSET_CHANGES, "matcher-t", lambda m: None):
        assert isinstance(change, HashSetChange)
        matching.matcher.apply_change(change)
    assert report_status(reporter, base, code) == [ReportStatus.REMOVAL_REQUESTED]

    # 7. The host takes both images down; the crawler's recheck sees them gone: the code shows "removed".
    rechecks = RecheckStage(bus, SafeFetcher(AllowList.parse(["127.0.0.1"]), user_agent="hotline walk test"))
    for path in ("/img/a.jpg", "/img/b.jpg"):
        site.routes[path] = Route(404, b"not found", "text/plain")
    clock.advance(hours=24)
    notifier.schedule_rechecks()
    drain(bus, Topic.RECHECK_REQUESTS, "recheck", rechecks.handle)
    results: list[Message] = drain(bus, Topic.RECHECK_RESULTS, "notifier", notifier.handle)
    assert [r.outcome for r in results if isinstance(r, RecheckResult)] == [RecheckOutcome.GONE] * 2
    assert report_status(reporter, base, code) == [ReportStatus.REMOVED]
    reporter.context.close()

    # 8. A later campaign crawl finds the re-encoded copy on another page: the local list matches it.
    site.routes.update({GALLERY: html("/img/c.jpg"), "/img/c.jpg": jpeg(COPY)})
    Campaigns(store).create(CampaignSpec(name="later", seeds=[site.url(GALLERY)], operator="op",
                                         contact_url="https://op.test/", allow_private_hosts=["127.0.0.1"]),
                            queued=True)
    assert worker.run_once() is not None
    candidates, requested = pipeline()
    [candidate] = candidates
    assert candidate.sha256 == sha256_hex(COPY) != sha256_hex(NEW)
    assert candidate.ref.origin is FetchOrigin.CAMPAIGN
    assert {h.hash_set for h in candidate.hits} == {"local"}
    assert [(r.sha256, r.ref.page_url) for r in requested] == [(sha256_hex(COPY), site.url(GALLERY))]


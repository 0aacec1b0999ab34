"""Issue 6 "done when", end to end on loopback: from a confirmed match to the removal report.

Real parts only: a local HTTP server serves a generated, benign image under a host name the fake
DNS points at 127.0.0.1 (allow-listed in the crawler settings); the hashing, matching, review and
notifier stages run over one embedded bus and SQLite store, with the image's PDQ hash in a known
list; an aiosmtpd server receives the notices; the crawler's own RecheckStage checks removal.

Time: the notifier takes an injectable clock. The crawler's removal check stamps ``checked_at``
with ``crawler.recheck.utcnow``, so the test points that name at the same clock (the check itself,
the fetch and its outcome, stays real).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.messages import (
    FetchedMedia,
    MediaRef,
    NoticeRequest,
    RecheckOutcome,
    RecheckResult,
    Topic,
    new_id,
    sha256_hex,
)
from core.store import Store
from core.store.tables.notifier import NoticeItem, Provider
from core.store.tables.review import ReviewItem
from crawler.recheck import RecheckStage, SafeFetcher
from crawler.safety import AllowList
from crawler.settings import CrawlerSettings
from crawler.spiders.site import SELECTED_HEADERS
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
from orbweaver.cli import main
from orbweaver.demo.imagegen import encode, generate
from review.settings import ReviewSettings
from review.stage import ReviewStage
from tests.fixtures.clock import FakeClock
from tests.fixtures.drain import drain
from tests.fixtures.fakedns import ENV as FAKE_DNS_ENV
from tests.fixtures.fakedns import getaddrinfo as fake_getaddrinfo
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.traps import Route, TrapServer, serve
from tests.fixtures.xarf_reports import notice_reports
from tests.unit.notifier.test_hosting import TableGeo

pytestmark = pytest.mark.integration

HOST = "media.hebergeur.test"
PATH = "/galerie/photo-17.jpg"
IMAGE = encode(generate(4242, (256, 192)), quality=88)
"""A generated, benign image (orbweaver.demo.imagegen); its PDQ hash is put on the known list."""
IMAGE_SHA = sha256_hex(IMAGE)
CDN_HEADERS = {"X-Served-By": "cache-par-lfpg1960042-PAR", "X-Cache": "MISS"}
SENDER = "Test Operator <notices@operator.test>"


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[TrapServer]:
    server = TrapServer("127.0.0.1")
    server.routes[PATH] = Route(body=IMAGE, content_type="image/jpeg", extra_headers=CDN_HEADERS)
    with serve(server):
        monkeypatch.setenv(FAKE_DNS_ENV, json.dumps({HOST: ["127.0.0.1"]}))
        yield server


def crawl_once(site: TrapServer, url: str) -> FetchedMedia:
    """What the crawler publishes for one fetched image: its GET, the selected headers, the body inline."""
    body = SafeFetcher(AllowList.parse(["127.0.0.1"]), user_agent="test", getaddrinfo=fake_getaddrinfo).fetch(url)
    assert (body.status, body.sha256) == (200, IMAGE_SHA)
    headers = {name: body.headers[name] for name in SELECTED_HEADERS if name in body.headers}
    return FetchedMedia(
        message_id=new_id(),
        ref=MediaRef(campaign_id="takedown", page_url=f"http://{HOST}:{site.port}/galerie/", media_url=url,
                     final_url=body.final_url, resolved_ip=body.resolved_ip,
                     fetched_at=datetime(2026, 3, 1, 11, 0, tzinfo=UTC)),
        http_status=body.status, headers=headers, content_type=headers.get("content-type"), size=len(IMAGE),
        sha256=IMAGE_SHA, body=IMAGE,
    )


def test_confirmed_match_is_noticed_in_french_renoticed_while_present_and_closed_when_gone(
    site: TrapServer, smtp_server: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://{HOST}:{site.port}{PATH}"
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    bus = EmbeddedBus(tmp_path / "bus.db")
    blobs = LocalBlobStore(tmp_path / "blobs")
    import_entries(store, "known", [
        ListEntry(value=h.value, algorithm="pdq", label="known-17", classification="baseline_csam")
        for h in compute_hashes(IMAGE).plain if h.algorithm == "pdq"
    ], source="test")
    upsert_providers(store, [
        ProviderRecord(name="Hébergeur Exemple SAS", abuse_email="abuse@hebergeur.test", domains=[HOST],
                       languages=["fr"], channel="smtp"),
        ProviderRecord(name="Other Host", abuse_email="abuse@other.test", cidrs=["127.0.0.0/8"], languages=["de"]),
    ])

    # Crawl -> hashing -> matcher -> review: the strict PDQ match is confirmed automatically.
    bus.publish(crawl_once(site, url))
    bus.flush()
    drain(bus, Topic.MEDIA_FETCHED, "hashing", HashingStage(bus, store, blobs, HashingSettings()).handle)
    matching = MatchingStage(bus, store, blobs, Matcher(store, MatcherSettings()))
    drain(bus, Topic.MEDIA_HASHED, "matcher", matching.handle)
    drain(bus, Topic.MATCH_CANDIDATES, "review", ReviewStage(bus, store, ReviewSettings()).handle)
    with store.session() as s:
        assert s.scalars(select(ReviewItem.status)).one() == "confirmed"

    # The notifier, on a test clock, with the SMTP channel; the crawler's recheck on the same clock.
    clock = FakeClock()
    monkeypatch.setattr("crawler.recheck.utcnow", clock)
    settings = NotifierSettings(
        channel="smtp", smtp={"host": smtp_server.host, "port": smtp_server.port, "timeout_s": 5}, sender=SENDER,
        operator_name="Test Operator", batch_window_s=0, hotline_policy="none",
        portal_base_url="https://orbweaver.example", outbox={"dir": tmp_path / "outbox"},
    )
    notifier = NotifierStage(bus, store, settings, build_channels(settings, store), clock=clock,
                             hosting=HostingLookup(geo=TableGeo({"127.0.0.1": ("FR", "EXEMPLE-AS")}),
                                                   hotline_policy="none"))
    [request] = drain(bus, Topic.NOTICE_REQUESTS, "notifier", notifier.handle)
    assert isinstance(request, NoticeRequest)
    assert request.ref.media_url == url and request.sha256 == IMAGE_SHA
    # The crawler's selected headers reach the notifier through the sighting (CDN recognition reads them).
    assert request.response_headers["x-served-by"] == CDN_HEADERS["X-Served-By"]
    assert request.response_headers["content-type"] == "image/jpeg"

    [notice_id] = notifier.flush()
    [mail] = smtp_server.received
    assert mail.recipients == ["abuse@hebergeur.test"]
    msg = mail.message()
    assert msg["Content-Language"] == "fr" and msg["X-Orbweaver-Notice-ID"] == notice_id
    assert msg["Subject"].startswith(f"[{notice_id}] Demande de retrait : 1 élément")
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("À l'attention du service abus de Hébergeur Exemple SAS,")
    assert "Élément 1 sur 1" in text and "To the abuse team of Hébergeur Exemple SAS," in text  # French, then English
    assert url in text and IMAGE_SHA in text
    assert '<html lang="fr" dir="ltr">' in html and '<section lang="en" dir="ltr">' in html
    [report] = notice_reports(msg)  # vendored X-ARF 4.0.0 schemas, the xarf package, no media parts
    assert report["url"] == url and report["hash_values"]["sha256"] == IMAGE_SHA
    assert (report["category"], report["type"], report["classification"]) == ("content", "csam", "baseline")
    assert report["source_identifier"] == "127.0.0.1" and report["detection_method"] == "hash_match"
    assert IMAGE not in mail.data and IMAGE[:64] not in mail.data

    def day(hours: float) -> tuple[list[RecheckOutcome], list[str]]:
        """Advance the clock, let the notifier ask for rechecks, the crawler check, the notifier act."""
        clock.advance(hours=hours)
        notifier.schedule_rechecks()
        drain(bus, Topic.RECHECK_REQUESTS, "recheck", rechecks.handle)
        results = drain(bus, Topic.RECHECK_RESULTS, "notifier", notifier.handle)
        assert all(isinstance(r, RecheckResult) for r in results)
        return [r.outcome for r in results if isinstance(r, RecheckResult)], notifier.flush()

    # Built as run_crawler_worker builds it, from crawler settings that allow the test host.
    crawler = CrawlerSettings(allow_private_hosts=[HOST, "127.0.0.1"])
    rechecks = RecheckStage(bus, SafeFetcher(
        AllowList.parse(crawler.allow_private_hosts), user_agent=crawler.effective_user_agent(),
        timeout_s=crawler.download_timeout_s, max_bytes=crawler.max_response_bytes,
        max_redirects=crawler.max_redirects, getaddrinfo=fake_getaddrinfo))

    outcomes, sent = day(24)
    assert outcomes == [RecheckOutcome.PRESENT] and len(sent) == 1 and sent[0] != notice_id
    assert len(smtp_server.received) == 2
    renotice = smtp_server.received[1].message()
    assert smtp_server.received[1].recipients == ["abuse@hebergeur.test"]
    assert renotice["Subject"].startswith(f"[{sent[0]}] Demande de retrait renouvelée : 1 élément")
    assert renotice["Content-Language"] == "fr"

    site.routes[PATH] = Route(404, b"not found", "text/plain")
    assert day(24) == ([RecheckOutcome.GONE], [])
    with store.session() as s:
        item = s.scalars(select(NoticeItem)).one()
        assert item.status == "removed" and item.removed_at == clock.now
    for _ in range(2):
        assert day(24) == ([], [])
    assert len(smtp_server.received) == 2 and notifier.schedule_rechecks() == 0

    config = tmp_path / "orbweaver.toml"
    config.write_text(f'[core]\ndata_dir = "{tmp_path}"\nstore = "{store.url}"\n')
    out = CliRunner().invoke(main, ["report", "removal", "--json", "--config", str(config)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output.strip().splitlines()[-1])
    with store.session() as s:
        provider = s.scalars(select(Provider.name).where(Provider.id == item.provider_id)).one()
    assert provider == "Hébergeur Exemple SAS"
    [row] = [r for r in data["providers"] if r["group"] == provider]
    assert (row["items"], row["removed"], row["still_open"]) == (1, 1, 0)
    assert row["median_hours"] == pytest.approx(48.0) and row["p90_hours"] == pytest.approx(48.0)
    assert not [r for r in data["providers"] if r["group"] == "Other Host"]
    store.dispose()

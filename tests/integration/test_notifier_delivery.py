"""Notices over real servers on loopback: an aiosmtpd SMTP server and an HTTP webhook receiver.

Covers the multipart e-mail in the provider's language with X-ARF attachments, the crash
between sending and recording, ten minutes of a dead SMTP server on a simulated clock, bounces
escalating to the upstream provider and the hotline, and signed webhooks with retries.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.bus.embedded import EmbeddedBus
from core.store import Store
from core.store.tables.notifier import Delivery, Notice, NoticeRecipient
from notifier.base import NoticeChannel, Receipt, RenderedNotice
from notifier.channels import SmtpChannel, WebhookChannel, build_channels, message_id
from notifier.hosting import HostingLookup, HotlineRecord
from notifier.i18n import available_languages
from notifier.providers import NoticePolicy, ProviderRecord, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from notifier.webhook import verify
from tests.fixtures.clock import FakeClock
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.traps import Route, TrapServer, serve
from tests.fixtures.xarf_reports import check_report, notice_reports
from tests.unit.notifier.helpers import confirmed, migrated_store
from tests.unit.notifier.http_servers import Behaviour, http_server
from tests.unit.notifier.test_hosting import TableGeo

pytestmark = pytest.mark.integration

SENDER = "Test Operator <notices@operator.test>"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return migrated_store(tmp_path, review_items=5)


def settings_for(smtp: SmtpServer, tmp_path: Path, **overrides: object) -> NotifierSettings:
    values: dict[str, object] = dict(
        channel="smtp", smtp={"host": smtp.host, "port": smtp.port, "timeout_s": 5}, sender=SENDER,
        operator_name="Test Operator", outbox={"dir": tmp_path / "outbox"}, batch_window_s=0,
        portal_base_url="https://orbweaver.example", hotline_policy="none", retry_base_s=30, retry_max_s=240,
        webhook={"allow_private_hosts": ["127.0.0.1"]},
    )
    values.update(overrides)
    return NotifierSettings.model_validate(values)


def make_stage(store: Store, tmp_path: Path, settings: NotifierSettings, clock: FakeClock,
               channels: Mapping[str, NoticeChannel] | None = None) -> NotifierStage:
    hosting = HostingLookup(
        geo=TableGeo({"203.0.113.9": ("NL", "EXAMPLE-AS"), "198.51.100.7": ("NL", "SILENT-AS")}),
        hotlines={"NL": HotlineRecord(country="NL", name="Offlimits", email="intake@offlimits.test")},
        hotline_policy=settings.hotline_policy,
    )
    return NotifierStage(EmbeddedBus(tmp_path / "bus.db"), store, settings,
                         channels or build_channels(settings, store), clock=clock, hosting=hosting)


def test_provider_gets_a_multipart_notice_in_its_language_with_valid_xarf(
    store: Store, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    upsert_providers(store, [ProviderRecord(name="Beispiel Hosting GmbH", abuse_email="abuse@beispiel.test",
                                            cidrs=["203.0.113.0/24"], languages=["de"])])
    clock = FakeClock()
    stage = make_stage(store, tmp_path, settings_for(smtp_server, tmp_path), clock)
    stage.handle(confirmed("http://files.site.test/a.jpg"))
    stage.handle(confirmed("http://files.site.test/b.jpg", review_item=2))
    [notice_id] = stage.flush()
    [received] = smtp_server.received
    assert received.recipients == ["abuse@beispiel.test"]
    msg = received.message()
    assert msg["Message-ID"] == message_id(f"{notice_id}.smtp", SENDER)
    assert msg["Content-Language"] == "de" and msg["X-Orbweaver-Notice-ID"] == notice_id
    assert msg["Subject"] == f"[{notice_id}] Aufforderung zur Entfernung: 2 Darstellungen sexuellen " \
                             "Kindesmissbrauchs auf Ihrem Dienst"
    assert msg.get_content_type() == "multipart/mixed"
    alternative = next(p for p in msg.walk() if p.get_content_type() == "multipart/alternative")
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("An das Abuse-Team von Beispiel Hosting GmbH,")
    assert "Eintrag 2 von 2" in text and f"Notice ID: {notice_id}" in text  # German first, then English
    assert f"https://orbweaver.example/provider/notices/{notice_id}" in text
    assert '<html lang="de" dir="ltr">' in html and '<section lang="en" dir="ltr">' in html
    assert [p.get_content_type() for p in msg.iter_attachments()] == ["application/json"] * 2
    reports = notice_reports(msg)  # vendored X-ARF 4.0.0 schemas, the xarf package, no media parts
    assert {r["url"] for r in reports} == {"http://files.site.test/a.jpg", "http://files.site.test/b.jpg"}
    party = {"org": "Test Operator", "contact": "notices@operator.test", "domain": "operator.test"}
    assert all(r["reporter"] == r["sender"] == party for r in reports)


class CrashAfterSend(SmtpChannel):
    """The process dies after the server accepted the notice, before the delivery is recorded."""

    def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
        super().deliver(notice, idempotency_key)
        raise KeyboardInterrupt("killed between send and record")


def test_crash_between_send_and_record_then_resume_delivers_once(
    store: Store, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    upsert_providers(store, [ProviderRecord(name="Host", abuse_email="abuse@host.test", cidrs=["203.0.113.0/24"])])
    clock = FakeClock()
    settings = settings_for(smtp_server, tmp_path)
    channels = build_channels(settings, store)
    crashing = make_stage(store, tmp_path, settings, clock, {**channels, "smtp": CrashAfterSend.from_settings(
        settings, store)})
    crashing.handle(confirmed("http://files.site.test/a.jpg"))
    with pytest.raises(KeyboardInterrupt):
        crashing.flush()
    assert len(smtp_server.received) == 1
    with store.session() as s:
        assert s.scalars(select(Delivery.status)).one() == "sending"
    resumed = make_stage(store, tmp_path, settings, clock, channels)
    assert resumed.flush() == []  # the dead sender's claim still holds
    clock.advance(seconds=settings.send_claim_s + 1)
    assert len(resumed.flush()) == 1
    assert len(smtp_server.received) == 1  # the receiver saw it once
    with store.session() as s:
        delivery = s.scalars(select(Delivery)).one()
        assert delivery.status == "delivered" and s.scalars(select(Notice.status)).one() == "sent"


def test_dead_smtp_server_for_ten_minutes_loses_nothing_and_doubles_nothing(
    store: Store, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    upsert_providers(store, [
        ProviderRecord(name=f"Host {n}", abuse_email=f"abuse@host{n}.test", domains=[f"site{n}.test"])
        for n in range(1, 4)
    ])
    clock = FakeClock()
    start = clock.now
    settings = settings_for(smtp_server, tmp_path)
    stage = make_stage(store, tmp_path, settings, clock)
    for n in range(1, 4):
        stage.handle(confirmed(f"http://site{n}.test/a.jpg", review_item=n))
    smtp_server.stop()
    attempts_at: list[float] = []
    while clock.now - start < timedelta(minutes=10):
        before = _attempts(store)
        assert stage.flush() == []
        if _attempts(store) > before:
            attempts_at.append((clock.now - start).total_seconds())
        clock.advance(seconds=15)
    # Backoff 30 s doubling, capped at 240 s: attempts at 0, 30, 90, 210, 450 s (the next is due at 690 s).
    assert attempts_at == [0, 30, 90, 210, 450]
    with store.session() as s:
        rows = s.scalars(select(Delivery)).all()
        assert [(d.status, d.attempts) for d in rows] == [("pending", 5)] * 3
        assert all("Connection refused" in (d.last_error or "") or "SMTP" in (d.last_error or "") for d in rows)
    assert smtp_server.received == []
    smtp_server.start()
    assert stage.flush() == []  # still backing off
    clock.now = start + (rows[0].next_attempt_at - start)  # type: ignore[operator]
    assert len(stage.flush()) == 3
    for _ in range(3):
        clock.advance(minutes=5)
        assert stage.flush() == []
    received = smtp_server.received
    assert sorted(r.recipients[0] for r in received) == ["abuse@host1.test", "abuse@host2.test", "abuse@host3.test"]
    assert len({r.message()["Message-ID"] for r in received}) == 3


def _attempts(store: Store) -> int:
    with store.session() as s:
        return sum(s.scalars(select(Delivery.attempts)).all())


def test_bounce_escalates_to_the_upstream_provider_and_the_hotline(
    store: Store, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    upsert_providers(store, [
        ProviderRecord(name="Silent Host", abuse_email="gone@silent.test", cidrs=["198.51.100.0/24"],
                       policy=NoticePolicy(upstream="Transit Networks")),
        ProviderRecord(name="Transit Networks", kind="upstream", abuse_email="abuse@transit.test"),
    ])
    smtp_server.refuse("gone@silent.test", "550 5.1.1 mailbox unavailable")
    clock = FakeClock()
    stage = make_stage(store, tmp_path, settings_for(smtp_server, tmp_path), clock)
    stage.handle(confirmed("http://files.silent.test/a.jpg", ip="198.51.100.7"))
    assert stage.flush() == []
    with store.session() as s:
        failed = s.scalars(select(Delivery)).one()
        assert failed.status == "failed" and "550" in (failed.last_error or "")
        roles = Counter(s.scalars(select(NoticeRecipient.role)).all())
        assert roles == {"host": 1, "upstream": 1, "hotline": 1}
    assert len(stage.flush()) == 2
    by_recipient = {r.recipients[0]: r.message() for r in smtp_server.received}
    assert set(by_recipient) == {"abuse@transit.test", "intake@offlimits.test"}
    upstream_text = by_recipient["abuse@transit.test"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "hosting provider Silent Host has not removed the material" in upstream_text
    hotline_text = by_recipient["intake@offlimits.test"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "as the hotline for the country where this material is hosted" in hotline_text
    # The Netherlands' language where its catalogue exists, else English; English is in the text either way.
    expected = "nl" if "nl" in available_languages() else "en"
    assert by_recipient["intake@offlimits.test"]["Content-Language"] == expected
    assert "Notice ID:" in hotline_text


def test_signed_webhook_is_retried_with_backoff_and_accepted_once(store: Store, tmp_path: Path,
                                                                  smtp_server: SmtpServer) -> None:
    behaviour = Behaviour(statuses=[503])
    with http_server(behaviour) as base:
        upsert_providers(store, [ProviderRecord(name="Hook Host", webhook_url=f"{base}/notices",
                                                webhook_secret="s3cret", cidrs=["203.0.113.0/24"])])
        clock = FakeClock()
        settings = settings_for(smtp_server, tmp_path)
        stage = make_stage(store, tmp_path, settings, clock)
        stage.handle(confirmed("http://files.site.test/a.jpg"))
        assert stage.flush() == []
        assert stage.flush() == []  # backing off
        clock.advance(seconds=settings.retry_base_s)
        [notice_id] = stage.flush()
        clock.advance(hours=1)
        assert stage.flush() == []
        requests = behaviour.requests
        assert [r.path for r in requests] == ["/notices", "/notices"]
        assert {r.headers["Idempotency-Key"] for r in requests} == {f"{notice_id}.webhook"}
        final = requests[-1]
        sent_at = datetime.fromtimestamp(int(final.headers["X-Orbweaver-Timestamp"]), tz=clock.now.tzinfo)
        assert verify("s3cret", final.headers, final.body, sent_at)
        assert not verify("wrong", final.headers, final.body, sent_at)
        payload = json.loads(final.body)
        assert payload["notice_id"] == notice_id and payload["items"][0]["url"] == "http://files.site.test/a.jpg"
        assert payload["portal_url"] == f"https://orbweaver.example/provider/notices/{notice_id}"
        assert payload["xarf"]
        for report in payload["xarf"]:
            check_report(report)
        assert smtp_server.received == []  # a webhook provider gets no e-mail


class CrashAfterPost(WebhookChannel):
    def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
        super().deliver(notice, idempotency_key)
        raise KeyboardInterrupt("killed between send and record")


def test_webhook_crash_between_send_and_record_does_not_post_twice(store: Store, tmp_path: Path,
                                                                    smtp_server: SmtpServer) -> None:
    behaviour = Behaviour()
    with http_server(behaviour) as base:
        upsert_providers(store, [ProviderRecord(name="Hook Host", webhook_url=f"{base}/n", webhook_secret="k",
                                                cidrs=["203.0.113.0/24"])])
        clock = FakeClock()
        settings = settings_for(smtp_server, tmp_path)
        channels = build_channels(settings, store)
        crashing = make_stage(store, tmp_path, settings, clock,
                              {**channels, "webhook": CrashAfterPost.from_settings(settings, store)})
        crashing.handle(confirmed("http://files.site.test/a.jpg"))
        with pytest.raises(KeyboardInterrupt):
            crashing.flush()
        clock.advance(seconds=settings.send_claim_s + 1)
        assert len(make_stage(store, tmp_path, settings, clock, channels).flush()) == 1
        assert len(behaviour.requests) == 1


INTERNAL_ANSWER = b'{"internal": "ORBWEAVER-TEST-INTERNAL-ANSWER"}'


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_webhook_redirect_to_an_internal_address_is_not_followed(store: Store, tmp_path: Path,
                                                                   smtp_server: SmtpServer, status: int) -> None:
    # 127.0.0.1 is the provider's webhook (allowed for tests); 127.0.0.3 stands for an internal service.
    internal = TrapServer("127.0.0.3")
    internal.routes["/admin"] = Route(body=INTERNAL_ANSWER, content_type="application/json")
    redirector = TrapServer("127.0.0.1")
    with serve(internal), serve(redirector):
        redirector.routes["/hook"] = Route(status, body=b"moved", content_type="text/plain",
                                           location=internal.url("/admin"))
        upsert_providers(store, [ProviderRecord(name="Hook Host", webhook_url=redirector.url("/hook"),
                                                webhook_secret="k", cidrs=["203.0.113.0/24"])])
        stage = make_stage(store, tmp_path, settings_for(smtp_server, tmp_path), FakeClock())
        stage.handle(confirmed("http://files.site.test/a.jpg"))
        sent = stage.flush()
        assert redirector.hits["/hook"] == 1
        assert internal.connections == 0 and internal.total_hits == 0
        assert sent == []
    with store.session() as s:
        [delivery] = s.scalars(select(Delivery).where(Delivery.channel == "webhook")).all()
        notice = s.get(Notice, delivery.notice_id)
        assert notice is not None and notice.status == "failed"
    assert delivery.status == "failed" and delivery.reference is None
    assert delivery.last_error is not None and f"HTTP {status} redirect not followed" in delivery.last_error
    assert "INTERNAL-ANSWER" not in delivery.last_error and "moved" not in delivery.last_error


def test_a_webhook_at_a_private_address_is_refused_before_connecting(store: Store, tmp_path: Path,
                                                                     smtp_server: SmtpServer) -> None:
    internal = TrapServer("127.0.0.3")
    internal.routes["/hook"] = Route(body=INTERNAL_ANSWER, content_type="application/json")
    with serve(internal):
        upsert_providers(store, [ProviderRecord(name="Hook Host", webhook_url=internal.url("/hook"),
                                                webhook_secret="k", cidrs=["203.0.113.0/24"])])
        stage = make_stage(store, tmp_path, settings_for(smtp_server, tmp_path), FakeClock())
        stage.handle(confirmed("http://files.site.test/a.jpg"))
        assert stage.flush() == []
        assert internal.connections == 0
    with store.session() as s:
        [delivery] = s.scalars(select(Delivery).where(Delivery.channel == "webhook")).all()
    assert delivery.status == "failed" and delivery.reference is None
    assert delivery.last_error == f"webhook {internal.url('/hook')}: refused: 127.0.0.3 is a private/loopback address"

"""A notice written by the outbox channel, taken apart: its X-ARF reports pass the released schemas and xarf."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from core.bus.embedded import EmbeddedBus
from core.messages import ACTIONABLE, Classification
from notifier.channels import OutboxChannel
from notifier.providers import ProviderRecord, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from tests.fixtures.clock import FakeClock
from tests.fixtures.xarf_reports import notice_reports
from tests.unit.notifier.helpers import confirmed, migrated_store

URLS = {
    Classification.BASELINE_CSAM: "https://files.host.test/a.jpg",
    Classification.NATIONALLY_ILLEGAL: "http://203.0.113.9:8080/b.png",
    Classification.HARMFUL_ABUSIVE: "http://files.host.test/c.webp",
}


def test_every_report_in_a_written_notice_validates_and_parses(tmp_path: Path) -> None:
    assert set(URLS) == ACTIONABLE
    store = migrated_store(tmp_path, review_items=len(URLS))
    upsert_providers(store, [ProviderRecord(name="Example Host", abuse_email="abuse@host.test",
                                            cidrs=["203.0.113.0/24"])])
    settings = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=0, operator_name="Test Operator",
                                sender="Test Operator <notices@operator.test>", xarf_sender_org="Filing Service",
                                xarf_sender_contact="xarf@filer.test")
    stage = NotifierStage(EmbeddedBus(tmp_path / "bus.db"), store, settings,
                          OutboxChannel(tmp_path / "outbox", settings.sender), clock=FakeClock())
    for n, (classification, url) in enumerate(URLS.items(), start=1):
        stage.handle(confirmed(url, review_item=n).model_copy(update={"classification": classification}))
    [notice_id] = stage.flush()
    [written] = (tmp_path / "outbox").glob("*.eml")
    msg = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert msg["X-Orbweaver-Notice-ID"] == notice_id

    reports = notice_reports(msg)  # each: vendored schemas, the xarf package; and no part is media

    by_url = {r["url"]: r for r in reports}
    assert set(by_url) == set(URLS.values())
    assert {c: by_url[u]["classification"] for c, u in URLS.items()} == {
        Classification.BASELINE_CSAM: "baseline",
        Classification.NATIONALLY_ILLEGAL: "B2",
        Classification.HARMFUL_ABUSIVE: "B2",
    }
    for report in reports:
        assert report["reporter"] == {"org": "Test Operator", "contact": "notices@operator.test",
                                      "domain": "operator.test"}
        assert report["sender"] == {"org": "Filing Service", "contact": "xarf@filer.test", "domain": "filer.test"}
        assert report["source_identifier"] == "203.0.113.9"
        assert f"orbweaver_notice:{notice_id.lower().replace('-', '_')}" in report["tags"]
    assert by_url[URLS[Classification.NATIONALLY_ILLEGAL]]["source_port"] == 8080
    assert "domain" not in by_url[URLS[Classification.NATIONALLY_ILLEGAL]]  # an IP literal is no domain
    assert by_url[URLS[Classification.BASELINE_CSAM]]["domain"] == "files.host.test"

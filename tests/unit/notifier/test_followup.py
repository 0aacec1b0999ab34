"""Follow-up until removal, on an injectable clock: rechecks, re-notices every 24 h, escalation, removal report."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.bus.embedded import EmbeddedBus
from core.messages import Message, RecheckOutcome, RecheckRequest, RecheckResult, Topic
from core.store import Store
from core.store.tables.notifier import Notice, NoticeItem, NoticeRecipient
from notifier.channels import OutboxChannel
from notifier.hosting import HostingLookup, HotlineRecord
from notifier.providers import NoticePolicy, ProviderRecord, upsert_providers
from notifier.report import percentile, removal_report
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from tests.fixtures.clock import FakeClock
from tests.unit.notifier.helpers import confirmed, migrated_store
from tests.unit.notifier.test_hosting import TableGeo


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = migrated_store(tmp_path)
    upsert_providers(store, [ProviderRecord(name="Slow Host", abuse_email="abuse@slow.test", cidrs=["203.0.113.0/24"],
                                            languages=["de"], policy=NoticePolicy(renotice_limit=2))])
    return store


def make_stage(store: Store, tmp_path: Path, clock: FakeClock) -> NotifierStage:
    settings = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=0, hotline_policy="none",
                                portal_base_url="https://orbweaver.example/")
    hosting = HostingLookup(geo=TableGeo({"203.0.113.9": ("DE", "EXAMPLE-AS")}),
                            hotlines={"DE": HotlineRecord(country="DE", name="eco", email="intake@eco.test")},
                            hotline_policy="none")
    return NotifierStage(EmbeddedBus(tmp_path / "bus.db"), store, settings,
                         OutboxChannel(tmp_path / "outbox", settings.sender), clock=clock, hosting=hosting)


def outbox(tmp_path: Path) -> list[EmailMessage]:
    out = []
    for path in sorted((tmp_path / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        out.append(parsed)
    return out


def recheck_requests(bus: EmbeddedBus) -> list[RecheckRequest]:
    got: list[Message] = []
    waiting = bus.lag(Topic.RECHECK_REQUESTS, "crawler-test")
    if waiting:
        bus.consume(Topic.RECHECK_REQUESTS, "crawler-test", got.append, max_messages=waiting, poll_timeout_s=0.05)
    assert all(isinstance(m, RecheckRequest) for m in got)
    return [m for m in got if isinstance(m, RecheckRequest)]


def result(url: str, sha: str, outcome: RecheckOutcome, clock: FakeClock) -> RecheckResult:
    return RecheckResult(media_url=url, expected_sha256=sha, outcome=outcome, checked_at=clock(), http_status=200)


def test_renotice_every_24h_while_present_then_escalate_then_close_with_time_to_removal(
    store: Store, tmp_path: Path
) -> None:
    clock = FakeClock()
    stage = make_stage(store, tmp_path, clock)
    url, sha = "http://files.site.test/a.jpg", "01" * 32
    stage.handle(confirmed(url))
    [first] = stage.flush()
    mails = outbox(tmp_path)
    assert len(mails) == 1 and mails[0]["Subject"].startswith(f"[{first}] Aufforderung zur Entfernung")
    assert mails[0]["Content-Language"] == "de"
    assert stage.schedule_rechecks() == 0  # the first recheck is due a day after the notice

    sent_days: list[int] = []
    for day in range(1, 5):
        clock.advance(hours=24)
        requests = [r for r in recheck_requests(stage.bus)] if stage.schedule_rechecks() else []
        assert [(r.media_url, r.sha256, r.notice_id) for r in requests] == [(url, sha, first)]
        stage.handle(result(url, sha, RecheckOutcome.PRESENT, clock))
        if stage.flush():
            sent_days.append(day)
    assert sent_days == [1, 2, 3, 4]
    mails = outbox(tmp_path)
    to = [m["To"] for m in mails]
    # Host: first notice + 4 re-notices; the hotline, told once, joined after the 2nd re-notice (limit 2).
    assert to.count("abuse@slow.test") == 5 and to.count("intake@eco.test") == 1
    assert to.index("intake@eco.test") == 4  # day 3: after notices on days 0, 1, 2 and the host's on day 3
    renotice = next(m for m in mails[1:] if m["To"] == "abuse@slow.test")
    assert "Wiederholte Aufforderung" in renotice["Subject"]
    text = renotice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Wir haben Sie am 1. März 2026, 12:00:00 UTC erstmals" in text
    assert "https://orbweaver.example/provider/notices/" in text
    hotline_mail = next(m for m in mails if m["To"] == "intake@eco.test")
    hotline_text = hotline_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Beschwerdestelle des Landes" in hotline_text and "(Deutschland)" in hotline_text
    with store.session() as s:
        sequences = sorted(s.scalars(select(Notice.sequence).where(Notice.role == "host")).all())
        assert sequences == [1, 2, 3, 4, 5]

    # Gone: the item closes; no more rechecks or notices.
    clock.advance(hours=24)
    stage.schedule_rechecks()
    stage.handle(result(url, sha, RecheckOutcome.GONE, clock))
    stage.handle(result(url, sha, RecheckOutcome.GONE, clock))  # redelivered: no second record
    clock.advance(hours=24)
    assert stage.flush() == [] and stage.schedule_rechecks() == 0
    with store.session() as s:
        item = s.scalars(select(NoticeItem)).one()
        assert item.status == "removed" and item.removed_at == clock.now - (clock.now - item.removed_at)
        assert all(not r.pending for r in s.scalars(select(NoticeRecipient)))
    report = removal_report(store, now=clock.now)
    [row] = report["providers"]
    assert (row.group, row.items, row.removed, row.still_open) == ("Slow Host", 1, 1, 0)
    assert row.median_hours == row.p90_hours == 120.0  # first notice at day 0, gone at day 5
    assert report["countries"][0].group == "DE"


def test_not_seen_present_since_the_last_notice_means_no_renotice(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    stage = make_stage(store, tmp_path, clock)
    stage.handle(confirmed("http://files.site.test/a.jpg"))
    stage.flush()
    clock.advance(hours=30)
    stage.handle(result("http://files.site.test/a.jpg", "01" * 32, RecheckOutcome.ERROR, clock))
    assert stage.flush() == []  # an error says nothing: wait for a real answer
    with store.session() as s:
        assert s.scalars(select(NoticeItem.status)).one() == "open"


def test_changed_content_closes_the_item_as_changed(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    stage = make_stage(store, tmp_path, clock)
    stage.handle(confirmed("http://files.site.test/a.jpg"))
    stage.handle(confirmed("http://files.site.test/b.jpg", review_item=2))
    stage.flush()
    clock.advance(hours=6)
    stage.handle(RecheckResult(media_url="http://files.site.test/a.jpg", expected_sha256="01" * 32,
                               outcome=RecheckOutcome.CHANGED, observed_sha256="ee" * 32, checked_at=clock()))
    with store.session() as s:
        status = {url: st for url, st in s.execute(select(NoticeItem.media_url, NoticeItem.status)).all()}
    assert status == {"http://files.site.test/a.jpg": "changed", "http://files.site.test/b.jpg": "open"}
    report = removal_report(store, now=clock.now)["all"][0]
    assert (report.removed, report.still_open, report.median_hours, report.oldest_open_hours) == (1, 1, 6.0, 6.0)


def test_provider_says_removed_triggers_an_immediate_recheck(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    stage = make_stage(store, tmp_path, clock)
    stage.handle(confirmed("http://files.site.test/a.jpg"))
    stage.flush()
    clock.advance(hours=1)
    with store.session() as s:
        item_id = s.scalars(select(NoticeItem.id)).one()
    assert stage.request_recheck(item_id) == 1
    [request] = recheck_requests(stage.bus)
    assert request.media_url == "http://files.site.test/a.jpg"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([float(n) for n in range(1, 11)], 90) == 9.0
    assert percentile([float(n) for n in range(1, 11)], 50) == 5.0


def test_removal_report_cli_prints_json_and_tables(store: Store, tmp_path: Path) -> None:
    from orbweaver.cli import main

    clock = FakeClock()
    stage = make_stage(store, tmp_path, clock)
    stage.handle(confirmed("http://files.site.test/a.jpg"))
    stage.flush()
    config = tmp_path / "orbweaver.toml"
    config.write_text(f'[core]\ndata_dir = "{tmp_path}"\nstore = "{store.url}"\n')
    runner = CliRunner()
    out = runner.invoke(main, ["report", "removal", "--json", "--config", str(config)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output.strip().splitlines()[-1])
    assert data["providers"][0]["group"] == "Slow Host" and data["providers"][0]["still_open"] == 1
    table = runner.invoke(main, ["report", "removal", "--config", str(config)])
    assert table.exit_code == 0 and "Time to removal by provider" in table.output

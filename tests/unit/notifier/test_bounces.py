"""Bounces that arrive by mail after a notice was accepted: read from a Maildir, matched, escalated.

The notice really goes through an SMTP server (aiosmtpd on loopback); the bounce is a delivery
status notification (RFC 3464) built the way Postfix writes one, around the headers of the
message the server received. No media bytes appear anywhere: notices carry URLs and hashes.
"""

from __future__ import annotations

import mailbox
import textwrap
from email import message_from_bytes, message_from_string
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.bus.embedded import EmbeddedBus
from core.store import Store
from core.store.tables.notifier import Delivery, Notice, NoticeRecipient
from notifier.bounces import BounceOutcome, collect, delivery_report
from notifier.channels import SmtpChannel
from notifier.hosting import HostingLookup, HotlineRecord
from notifier.providers import ProviderRecord, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from tests.fixtures.clock import FakeClock
from tests.fixtures.smtp import SmtpServer
from tests.unit.notifier.helpers import confirmed, migrated_store
from tests.unit.notifier.test_hosting import TableGeo

SENDER = "orbweaver <notices@op.test>"


def dsn(original_headers: str, *, action: str = "failed", status: str = "5.1.1",
        diagnostic: str = "smtp; 550 5.1.1 <abuse@host.test>: Recipient address rejected: User unknown",
        returned: str = "text/rfc822-headers") -> str:
    """A delivery status notification as Postfix sends it, about a message with ``original_headers``."""
    body = original_headers if returned == "text/rfc822-headers" else original_headers + "\nThe notice text.\n"
    return textwrap.dedent("""\
        From: MAILER-DAEMON@mx.op.test (Mail Delivery System)
        To: notices@op.test
        Subject: Undelivered Mail Returned to Sender
        Auto-Submitted: auto-replied
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

        --BOUNDARY
        Content-Type: text/plain; charset=us-ascii

        I'm sorry to have to inform you that your message could not be delivered.

        --BOUNDARY
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.op.test
        Arrival-Date: Sun,  1 Mar 2026 12:00:05 +0000

        Final-Recipient: rfc822; abuse@host.test
        Original-Recipient: rfc822;abuse@host.test
        Action: {action}
        Status: {status}
        Diagnostic-Code: {diagnostic}

        --BOUNDARY
        Content-Type: {returned}

        {body}
        --BOUNDARY--
        """).format(action=action, status=status, diagnostic=diagnostic, returned=returned,
                    body=body.rstrip())


@pytest.fixture
def sent(tmp_path: Path, smtp_server: SmtpServer) -> tuple[NotifierStage, Store, str, str]:
    """A notice sent to a host over SMTP: (stage, store, notice id, the headers the server received)."""
    store = migrated_store(tmp_path)
    upsert_providers(store, [ProviderRecord(name="Host", abuse_email="abuse@host.test", cidrs=["203.0.113.0/24"])])
    settings = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=0, hotline_policy="none",
                                bounce_maildir=tmp_path / "bounces", sender=SENDER)
    hosting = HostingLookup(geo=TableGeo({"203.0.113.9": ("FR", None)}), hotline_policy="none",
                            hotlines={"FR": HotlineRecord(country="FR", name="Point de Contact",
                                                          email="intake@pdc.test")})
    channel = SmtpChannel(smtp_server.host, smtp_server.port, sender=SENDER)
    stage = NotifierStage(EmbeddedBus(tmp_path / "bus.db"), store, settings, channel, clock=FakeClock(),
                          hosting=hosting)
    stage.handle(confirmed("http://files.site.test/a.jpg"))
    [notice_id] = stage.flush()
    [received] = smtp_server.received
    headers = received.data.split(b"\r\n\r\n", 1)[0].decode().replace("\r\n", "\n")
    return stage, store, notice_id, headers


def deliver(maildir: Path, *texts: str) -> None:
    box = mailbox.Maildir(maildir, create=True)
    for text in texts:
        box.add(mailbox.MaildirMessage(text.encode()))


def folder_counts(maildir: Path) -> dict[str, int]:
    box = mailbox.Maildir(maildir, create=False)
    return {name: len(box.get_folder(name)) for name in box.list_folders()} | {"inbox": len(box)}


def test_a_permanent_bounce_marks_the_notice_and_escalates_to_the_hotline(
    sent: tuple[NotifierStage, Store, str, str], tmp_path: Path, smtp_server: SmtpServer
) -> None:
    stage, store, notice_id, headers = sent
    maildir = tmp_path / "bounces"
    deliver(maildir, dsn(headers))
    # A worker's tick reads the bounce first, then sends what that made due: the hotline's notice.
    [hotline_notice] = stage.tick()
    assert hotline_notice != notice_id
    assert [r.recipients for r in smtp_server.received] == [["abuse@host.test"], ["intake@pdc.test"]]
    with store.session() as s:
        assert s.get(Notice, notice_id).status == "bounced"  # type: ignore[union-attr]
        delivery = s.scalars(select(Delivery).where(Delivery.notice_id == notice_id)).one()
        assert delivery.status == "bounced"
        assert delivery.last_error is not None and "5.1.1 abuse@host.test" in delivery.last_error
        assert "User unknown" in delivery.last_error
        assert sorted(s.scalars(select(NoticeRecipient.role)).all()) == ["host", "hotline"]
    assert folder_counts(maildir) == {"orbweaver-bounced": 1, "orbweaver-delayed": 0, "orbweaver-unmatched": 0,
                                      "inbox": 0}
    # Read once: a second pass finds nothing and escalates nothing again.
    again = stage.collect_bounces()
    assert again is not None and again.read == 0 and again.escalated_to == []


def test_the_original_may_come_back_whole(sent: tuple[NotifierStage, Store, str, str], tmp_path: Path) -> None:
    stage, _store, notice_id, headers = sent
    deliver(tmp_path / "bounces", dsn(headers, returned="message/rfc822"))
    summary = stage.collect_bounces()
    assert summary is not None and summary.bounced_notices == [notice_id]
    assert summary.escalated_to == ["Hotline FR: Point de Contact"]


def test_delays_auto_replies_and_strangers_are_filed_for_a_person(
    sent: tuple[NotifierStage, Store, str, str], tmp_path: Path
) -> None:
    stage, store, notice_id, headers = sent
    stranger = headers.replace(notice_id, "someone-else")
    assert stranger != headers
    deliver(tmp_path / "bounces",
            dsn(headers, action="delayed", status="4.4.1", diagnostic="X-Postfix; connect timed out"),
            dsn(stranger),
            "From: abuse@host.test\nTo: notices@op.test\nSubject: Re: notice\n\nWe are looking into it.\n",
            "From: x@y.test\nSubject: broken\nContent-Type: multipart/report; boundary=\"nope\"\n\n--nope\n")
    summary = stage.collect_bounces()
    assert summary is not None and summary.read == 4 and summary.bounced_notices == []
    assert summary.by_outcome == {BounceOutcome.DELAYED: 1, BounceOutcome.UNMATCHED: 3}
    with store.session() as s:
        assert s.get(Notice, notice_id).status != "bounced"  # type: ignore[union-attr]
        assert s.scalars(select(NoticeRecipient.role)).all() == ["host"]
    assert folder_counts(tmp_path / "bounces")["inbox"] == 0


def test_delivery_report_reads_status_recipient_and_original_ids() -> None:
    text = dsn("Message-ID: <n-1.smtp@op.test>\nSubject: notice", diagnostic="smtp; 550 5.7.1 blocked\n  by policy")
    report = delivery_report(message_from_string(text))
    assert report is not None
    assert report.message_ids == ("<n-1.smtp@op.test>",) and report.failed and not report.delayed
    assert report.reason == "5.1.1 abuse@host.test: 550 5.7.1 blocked by policy"
    assert delivery_report(message_from_bytes(b"Subject: hello\n\nnot a report\n")) is None


def test_the_command_reads_the_maildir_of_the_settings(
    sent: tuple[NotifierStage, Store, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orbweaver.cli import main

    _stage, store, notice_id, headers = sent
    maildir = tmp_path / "other-bounces"
    deliver(maildir, dsn(headers))
    monkeypatch.setenv("ORBWEAVER_CORE__STORE", str(store.engine.url))
    monkeypatch.setenv("ORBWEAVER_CORE__DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ORBWEAVER_NOTIFIER__OUTBOX__DIR", str(tmp_path / "outbox"))
    result = CliRunner().invoke(main, ["bounces", "--maildir", str(maildir), "--json"])
    assert result.exit_code == 0, result.output
    assert f'"bounced_notices": ["{notice_id}"]' in result.output
    assert CliRunner().invoke(main, ["bounces"]).exit_code == 2  # no Maildir anywhere: a usage error


def test_collect_keeps_every_message(tmp_path: Path) -> None:
    store = migrated_store(tmp_path)
    deliver(tmp_path / "box", "Subject: one\n\n1\n", "Subject: two\n\n2\n")
    summary = collect(tmp_path / "box", store, lambda notice, reason: pytest.fail("nothing bounced"))
    assert summary.read == 2 and folder_counts(tmp_path / "box")["orbweaver-unmatched"] == 2


def test_an_unreadable_bounce_folder_does_not_stop_sending(
    sent: tuple[NotifierStage, Store, str, str], tmp_path: Path, smtp_server: SmtpServer
) -> None:
    stage, _store, _notice, _headers = sent
    (tmp_path / "bounces").write_text("a file where the Maildir should be")
    stage.handle(confirmed("http://files.site.test/b.jpg"))
    assert len(stage.tick()) == 1
    assert len(smtp_server.received) == 2

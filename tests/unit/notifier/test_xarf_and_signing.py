"""X-ARF v4 reports validate against the schema (and bad ones do not); webhook HMAC signatures verify."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import PermanentError
from core.store.models import Notice, NoticeItem
from notifier import xarf
from notifier.base import RenderedNotice
from notifier.channels import to_email
from notifier.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signature_headers, verify

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _item(**changes: object) -> NoticeItem:
    values: dict[str, object] = dict(id=7, media_url="https://files.example.test/a/b.jpg",
                                     page_url="https://files.example.test/a/", host="files.example.test",
                                     resolved_ip="203.0.113.9", sha256="ab" * 32, pdq="f0" * 32,
                                     classification="baseline_csam", first_seen=T - timedelta(days=2),
                                     last_seen=T, country="NL")
    values.update(changes)
    return NoticeItem(**values)


NOTICE = Notice(id="OW-20260301-0A1B2C3D", provider_id=1, created_at=T)


def test_reports_validate_and_carry_no_media() -> None:
    reports = xarf.reports(NOTICE, [_item(), _item(id=8, pdq=None, classification="nationally_illegal",
                                                   resolved_ip=None, host="xn--bcher-kva.test",
                                                   media_url="https://xn--bcher-kva.test/x.png", country=None)],
                           reporter_org="Test Operator", sender="Operator <notices@operator.test>",
                           hosting_provider="Example Hosting")
    first, second = reports
    assert (first["class"], first["type"], first["xarf_version"]) == ("content", "csam", "4.0.0")
    assert first["classification"] == "baseline" and "classification" not in second
    assert first["reporter"] == {"org": "Test Operator", "contact": "notices@operator.test", "type": "automated"}
    assert first["file_hash"] == {"sha256": "ab" * 32}
    assert first["domain"] == "files.example.test" and "domain" not in second  # punycode breaks X-ARF's pattern
    assert second["source_identifier"] == "xn--bcher-kva.test"
    assert first["country_code"] == "NL" and first["hosting_provider"] == "Example Hosting"
    assert first["report_id"] == xarf.report_id(NOTICE.id, 7) != second["report_id"]
    evidence = base64.b64decode(first["evidence"][0]["payload"]).decode()
    assert evidence.startswith("Hash match.") and "no media" in evidence
    assert first["evidence"][0]["content_type"] == "text/plain"
    files = xarf.attachments(NOTICE.id, reports)
    assert [name for name, _, _ in files] == [f"xarf-{NOTICE.id}-1.json", f"xarf-{NOTICE.id}-2.json"]
    assert json.loads(files[0][2]) == first


@pytest.mark.parametrize(("change", "problem"), [
    ({"sha256": "not-a-hash"}, "file_hash/sha256"),
    ({"media_url": "files.example.test/no-scheme.jpg"}, "url"),
])
def test_invalid_reports_are_refused(change: dict[str, object], problem: str) -> None:
    with pytest.raises(PermanentError, match=problem):
        xarf.reports(NOTICE, [_item(**change)], reporter_org="Op", sender="notices@operator.test",
                     hosting_provider=None)


def test_schema_rejects_what_the_spec_forbids() -> None:
    good = xarf.build_report(NOTICE, _item(), reporter_org="Op", reporter_contact="notices@op.test")
    xarf.validate(good)
    for broken in (
        {**good, "xarf_version": "3"},
        {**good, "report_id": "not-a-uuid"},
        {**good, "reporter": {**good["reporter"], "contact": "not an address"}},
        {**good, "reporter": {**good["reporter"], "extra": 1}},
        {**good, "classification": "Z9"},
        {**good, "class": "messaging"},
        {**good, "tags": ["Bad Tag"]},
        {k: v for k, v in good.items() if k != "source_identifier"},
    ):
        with pytest.raises(PermanentError, match="X-ARF report invalid"):
            xarf.validate(broken)


def test_media_is_never_attached_to_a_notice() -> None:
    notice = RenderedNotice(notice_id="N", recipient="a@b.test", subject="s", text="t", language="en",
                            attachments=(("x.jpg", "image/jpeg", b"\xff\xd8"),))
    with pytest.raises(PermanentError, match="media"):
        to_email(notice, "notices@op.test")


def test_hmac_signature_verifies_and_rejects_tampering_replay_and_wrong_secrets() -> None:
    body = b'{"notice_id": "OW-1"}'
    headers = signature_headers("s3cret", body, T)
    assert headers[TIMESTAMP_HEADER] == str(int(T.timestamp()))
    assert headers[SIGNATURE_HEADER] == f"v1={sign('s3cret', int(T.timestamp()), body)}"
    assert verify("s3cret", headers, body, T + timedelta(seconds=30))
    assert verify("s3cret", {k.lower(): v for k, v in headers.items()}, body, T)
    assert not verify("s3cret", headers, body + b" ", T)
    assert not verify("other", headers, body, T)
    assert not verify("s3cret", headers, body, T + timedelta(minutes=10))
    assert not verify("s3cret", {TIMESTAMP_HEADER: "x", SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, body, T)
    assert not verify("s3cret", {TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER]}, body, T)
    # A fixed vector of HMAC-SHA256(key="key", message="0.body"), for receivers in other languages.
    assert sign("key", 0, b"body") == "e0af04d5c83b24373ff89f540d0c8fd9a4e097e2b3ee8318ab5541047697626d"

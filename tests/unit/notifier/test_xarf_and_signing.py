"""X-ARF reports pass the released 4.0.0 schemas and the xarf package (bad ones do not); webhook signatures verify."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError, PermanentError
from core.messages import ACTIONABLE, Classification
from core.settings import load
from core.store.tables.notifier import Notice, NoticeItem
from notifier import xarf
from notifier.base import RenderedNotice
from notifier.channels import to_email
from notifier.settings import NotifierSettings
from notifier.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signature_headers, verify
from orbweaver.settings import Settings
from tests.fixtures.xarf_reports import check_report

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
OPERATOR = xarf.Party(org="Test Operator", contact="notices@operator.test", domain="operator.test")
FILER = xarf.Party(org="Filing Service", contact="xarf@filer.test", domain="filer.test")


def _reports(*items: NoticeItem) -> list[dict[str, Any]]:
    return xarf.reports(NOTICE, list(items), reporter=OPERATOR, sender=FILER, hosting_provider="Example Hosting")


def test_reports_have_the_released_shape_and_carry_no_media() -> None:
    first, second = _reports(_item(), _item(id=8, pdq=None, classification="nationally_illegal", resolved_ip=None,
                                            host="xn--bcher-kva.test", media_url="http://xn--bcher-kva.test:8080/x.png",
                                            country=None))
    assert (first["category"], first["type"], first["xarf_version"]) == ("content", "csam", "4.0.0")
    assert "class" not in first and "file_hash" not in first
    assert (first["classification"], second["classification"]) == ("baseline", "B2")
    assert first["detection_method"] == second["detection_method"] == "hash_match"
    assert first["reporter"] == {"org": "Test Operator", "contact": "notices@operator.test", "domain": "operator.test"}
    assert first["sender"] == {"org": "Filing Service", "contact": "xarf@filer.test", "domain": "filer.test"}
    assert first["hash_values"] == {"sha256": "ab" * 32, "pdq": "f0" * 32}
    assert second["hash_values"] == {"sha256": "ab" * 32}
    assert (first["source_identifier"], first["source_port"]) == ("203.0.113.9", 443)
    assert (second["source_identifier"], second["source_port"]) == ("xn--bcher-kva.test", 8080)
    assert first["domain"] == "files.example.test" and "domain" not in second  # punycode breaks X-ARF's pattern
    assert (first["timestamp"], first["verified_at"]) == ("2026-02-27T12:00:00Z", "2026-03-01T12:00:00Z")
    assert first["country_code"] == "NL" and first["hosting_provider"] == "Example Hosting"
    assert "orbweaver_class:nationally_illegal" in second["tags"] and "nationally_illegal" in second["description"]
    assert first["report_id"] == xarf.report_id(NOTICE.id, 7) != second["report_id"]
    [evidence] = first["evidence"]
    summary = base64.b64decode(evidence["payload"])
    assert summary.startswith(b"Hash match.") and b"no media" in summary
    assert evidence["content_type"] == "text/plain" and evidence["size"] == len(summary)
    assert evidence["hash"] == f"sha256:{hashlib.sha256(summary).hexdigest()}"
    for report in (first, second):
        check_report(report)  # the vendored schemas and the xarf package agree
    files = xarf.attachments(NOTICE.id, [first, second])
    assert [(name, mime) for name, mime, _ in files] == [(f"xarf-{NOTICE.id}-1.json", "application/json"),
                                                         (f"xarf-{NOTICE.id}-2.json", "application/json")]
    assert json.loads(files[0][2]) == first


def test_the_classification_table_covers_every_orbweaver_classification() -> None:
    assert set(xarf.XARF_CLASSIFICATION) == set(Classification)
    for value in Classification:
        mapped = xarf.XARF_CLASSIFICATION[value]
        assert (mapped is not None) == (value in ACTIONABLE), value
        if mapped is None:
            with pytest.raises(PermanentError, match=f"no X-ARF classification for .*{value}"):
                _reports(_item(classification=str(value)))
        else:
            [report] = _reports(_item(classification=str(value)))
            assert report["classification"] == mapped == xarf.xarf_classification(value)
            check_report(report)
    assert xarf.XARF_CLASSIFICATION[Classification.BASELINE_CSAM] == "baseline"
    with pytest.raises(PermanentError, match="'custom_class'"):
        xarf.xarf_classification("custom_class")


def test_the_readme_shows_the_same_table() -> None:
    readme = (Path(xarf.__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| `([A-Za-z0-9]+)` \|", readme, flags=re.MULTILINE))
    table = {str(k): str(v) for k, v in xarf.XARF_CLASSIFICATION.items() if v is not None}
    assert rows == table


@pytest.mark.parametrize(("change", "problem"), [
    ({"sha256": "not-a-hash"}, "hash_values/sha256"),
    ({"media_url": "files.example.test/no-scheme.jpg"}, "url"),
    ({"resolved_ip": "elsewhere.test"}, "source_identifier"),
])
def test_invalid_reports_are_refused(change: dict[str, object], problem: str) -> None:
    with pytest.raises(PermanentError, match=problem):
        _reports(_item(**change))


def test_the_vendored_schemas_reject_what_the_release_forbids() -> None:
    good = xarf.build_report(NOTICE, _item(), reporter=OPERATOR, sender=FILER)
    xarf.validate(good)
    no_domain = {k: v for k, v in good["reporter"].items() if k != "domain"}
    for broken, problem in (
        ({**good, "xarf_version": "3"}, "xarf_version"),
        ({**good, "report_id": "not-a-uuid"}, "report_id"),
        ({**good, "reporter": no_domain}, "reporter: 'domain' is a required property"),
        ({**good, "reporter": {**good["reporter"], "type": "automated"}}, "reporter: Additional properties"),
        ({**good, "sender": {**good["sender"], "contact": "not an address"}}, "sender/contact"),
        ({k: v for k, v in good.items() if k != "sender"}, "'sender' is a required property"),
        ({**good, "classification": "Z9"}, "classification"),
        ({k: v for k, v in good.items() if k != "classification"}, "'classification' is a required property"),
        ({**good, "detection_method": "guess"}, "detection_method"),
        ({**good, "category": "messaging"}, "category"),
        ({**good, "hash_values": {"sha256": "ab" * 31}}, "hash_values/sha256"),
        ({**good, "tags": ["Bad Tag"]}, "tags/0"),
        ({k: v for k, v in good.items() if k != "source_identifier"}, "'source_identifier' is a required"),
    ):
        with pytest.raises(PermanentError, match=f"X-ARF report invalid: .*{re.escape(problem)}"):
            xarf.validate(broken)


def test_parties_come_from_the_settings() -> None:
    reporter, sender = xarf.parties(NotifierSettings())
    assert reporter == sender == xarf.Party("orbweaver operator", "notices@orbweaver.invalid", "orbweaver.invalid")
    settings = load(Settings, environ={
        "ORBWEAVER_NOTIFIER__XARF_SENDER_ORG": "Filing Service",
        "ORBWEAVER_NOTIFIER__XARF_SENDER_CONTACT": "xarf@Filer.test",
    }, overrides={"notifier": {"operator_name": "Op", "sender": "Op <notices@op.test>"}}).notifier
    assert xarf.parties(settings) == (xarf.Party("Op", "notices@op.test", "op.test"),
                                      xarf.Party("Filing Service", "xarf@Filer.test", "filer.test"))
    settings = NotifierSettings(xarf_sender_domain="Reports.Example.ORG")
    assert xarf.parties(settings)[1].domain == "reports.example.org"
    with pytest.raises(ConfigError, match="sender has no e-mail address"):
        xarf.parties(NotifierSettings(sender="Nobody"))
    with pytest.raises(ConfigError, match="xarf_sender_contact"):
        xarf.parties(NotifierSettings(xarf_sender_contact="reports"))


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

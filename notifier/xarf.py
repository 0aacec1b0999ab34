"""Notifier stage: the machine-readable part of a notice, one X-ARF v4 ``content``/``csam`` report per item.

X-ARF v4 reports one incident per report, so a notice listing several items carries several
reports. They hold URLs, hashes, times and classifications; the only evidence item is a short
text summary of the hash match. Every report is validated against ``schemas/`` before it is sent.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import PermanentError
from core.messages import Classification
from core.optional import require
from core.store.models import Notice, NoticeItem

SCHEMA_PATH = Path(__file__).parent / "schemas" / "xarf-v4-content-csam.schema.json"
XARF_VERSION = "4.0.0"
_DOMAIN = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}$")
_TAG_PART = re.compile(r"[^a-z0-9_]+")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tag(namespace: str, value: str) -> str:
    return f"{namespace}:{_TAG_PART.sub('_', value.lower()).strip('_') or 'none'}"


def report_id(notice_id: str, item_id: int) -> str:
    """A UUID for one item's report in one notice (the same on every retry of that notice)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"orbweaver:xarf:{notice_id}:{item_id}"))


def build_report(
    notice: Notice,
    item: NoticeItem,
    *,
    reporter_org: str,
    reporter_contact: str,
    hosting_provider: str | None = None,
) -> dict[str, Any]:
    """One item's X-ARF v4 content/csam report (not yet validated)."""
    host = (urlsplit(item.media_url).hostname or item.host or "").lower()
    summary = (
        f"Hash match. sha256={item.sha256} pdq={item.pdq or '-'} classification={item.classification} "
        f"evidence={notice.id}/{item.id}. This report contains no media."
    ).encode()
    report: dict[str, Any] = {
        "xarf_version": XARF_VERSION,
        "report_id": report_id(notice.id, item.id),
        "timestamp": _iso(item.first_seen),
        "reporter": {"org": reporter_org[:200], "contact": reporter_contact, "type": "automated"},
        "source_identifier": item.resolved_ip or host,
        "class": "content",
        "type": "csam",
        "url": item.media_url,
        "evidence_source": "crawler",
        "verified_at": _iso(item.last_seen),
        "verification_method": "automated_crawler",
        "detection_method": "hash_match",
        "media_type": "image",
        "file_hash": {"sha256": item.sha256.lower()},
        "description": (f"Known child sexual abuse material found at this URL (page {item.page_url}); "
                        f"notice {notice.id}.")[:1000],
        "tags": [_tag("orbweaver_notice", notice.id), _tag("orbweaver_class", item.classification)],
        "confidence": 1.0,
        "evidence": [{
            "content_type": "text/plain",
            "description": "Hash match summary (no media)",
            "payload": base64.b64encode(summary).decode("ascii"),
            "size": len(summary),
        }],
    }
    if _DOMAIN.match(host):
        report["domain"] = host
    if item.classification == Classification.BASELINE_CSAM:
        report["classification"] = "baseline"
    if item.country:
        report["country_code"] = item.country.upper()
    if hosting_provider:
        report["hosting_provider"] = hosting_provider
    if item.pdq:
        report["tags"].append("orbweaver_hash:pdq")
    return report


@lru_cache(maxsize=1)
def _validator() -> Any:
    jsonschema = require("jsonschema", "notifier")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def validate(report: dict[str, Any]) -> None:
    """Check one report against the X-ARF v4 content/csam schema.

    Raises:
        PermanentError: If it does not validate (the reason lists the first problems).

    """
    errors = sorted(_validator().iter_errors(report), key=lambda e: list(e.path))
    url = urlsplit(str(report.get("url", "")))
    if url.scheme not in ("http", "https") or not url.netloc:
        raise PermanentError(f"X-ARF report url is not an absolute http(s) URL: {report.get('url')!r}")
    if errors:
        raise PermanentError("X-ARF report invalid: " + "; ".join(
            f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5]))


def reports(
    notice: Notice, items: Sequence[NoticeItem], *, reporter_org: str, sender: str, hosting_provider: str | None
) -> list[dict[str, Any]]:
    """Validated reports for every item of a notice."""
    contact = parseaddr(sender)[1] or "notices@orbweaver.invalid"
    out = []
    for item in items:
        report = build_report(notice, item, reporter_org=reporter_org, reporter_contact=contact,
                              hosting_provider=hosting_provider)
        validate(report)
        out.append(report)
    return out


def attachments(notice_id: str, built: Sequence[dict[str, Any]]) -> tuple[tuple[str, str, bytes], ...]:
    """E-mail attachments for the reports: ``xarf-<notice>-<n>.json``, ``application/json``."""
    return tuple(
        (f"xarf-{notice_id}-{n}.json", "application/json",
         json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        for n, report in enumerate(built, start=1)
    )

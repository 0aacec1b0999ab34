"""Notifier stage: the machine-readable part of a notice, one X-ARF v4 ``content``/``csam`` report per item.

X-ARF v4 reports one incident per report, so a notice listing several items carries several
reports. They hold URLs, hashes, times and classifications; the only evidence item is a short
text summary of the hash match. Every report is validated against the released X-ARF 4.0.0
schemas vendored in ``schemas/v4/`` (see ``schemas/README.md``) before it is sent.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from core.errors import ConfigError, PermanentError
from core.messages import Classification
from core.optional import require
from core.store.tables.notifier import Notice, NoticeItem
from notifier.settings import NotifierSettings
from review.orgs import OrgView

SCHEMA_DIR = Path(__file__).parent / "schemas" / "v4"
SCHEMA_FILES = ("xarf-core.json", "types/content-base.json", "types/content-csam.json")
"""The vendored schemas, relative to ``SCHEMA_DIR``: content-csam and everything it refers to."""
CSAM_SCHEMA_ID = "https://xarf.org/schemas/v4/types/content-csam.json"
XARF_VERSION = "4.0.0"
"""The release the vendored schemas come from."""
_DOMAIN = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}$")
_TAG_PART = re.compile(r"[^a-z0-9_]+")


class XarfClassification(StrEnum):
    """X-ARF's ``classification`` of a csam report: INTERPOL's baseline, or an industry category.

    The categories are A (prepubescent) or B (pubescent), 1 (sex act) or 2 (lascivious exhibition).
    """

    BASELINE = "baseline"
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"


class XarfDetectionMethod(StrEnum):
    """X-ARF's ``detection_method`` of a csam report."""

    HASH_MATCH = "hash_match"
    AI_DETECTION = "ai_detection"
    MANUAL_REVIEW = "manual_review"
    USER_REPORT = "user_report"
    AUTOMATED_SCAN = "automated_scan"


XARF_CLASSIFICATION: Final[Mapping[Classification, XarfClassification | None]] = MappingProxyType({
    Classification.BASELINE_CSAM: XarfClassification.BASELINE,
    # orbweaver's review records legality, not the victim's age group or the act, so the other
    # actionable classes cannot name A1..B2 from facts. They take B2, the least severe category,
    # so that a report never overstates; the exact orbweaver class travels with it in the tag
    # orbweaver_class:<class> and in the description.
    Classification.NATIONALLY_ILLEGAL: XarfClassification.B2,
    Classification.HARMFUL_ABUSIVE: XarfClassification.B2,
    # Not actionable: such an item never reaches a notice, so a report of one is a defect.
    Classification.NOT_CSAM: None,
    Classification.UNABLE_TO_ASSESS: None,
})
"""orbweaver classification -> X-ARF classification: the one table (shown in the README's Notices)."""

DETECTION_METHOD: Final = XarfDetectionMethod.HASH_MATCH
"""Every orbweaver match is a hash-list match, exact (SHA-256) or perceptual (PDQ, pHash) alike."""


def xarf_classification(value: str) -> XarfClassification:
    """X-ARF's classification for an orbweaver one.

    Raises:
        PermanentError: If ``value`` is not actionable or not a known classification.

    """
    try:
        mapped = XARF_CLASSIFICATION[Classification(value)]
    except ValueError:
        mapped = None
    if mapped is None:
        raise PermanentError(f"no X-ARF classification for orbweaver classification {value!r}")
    return mapped


@dataclass(frozen=True)
class Party:
    """An X-ARF ``reporter`` or ``sender``: organisation, contact address, domain."""

    org: str
    contact: str
    domain: str

    def as_json(self) -> dict[str, str]:
        """The party as X-ARF's ``contact_info`` object."""
        return {"org": self.org[:200], "contact": self.contact, "domain": self.domain}


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def parties(settings: NotifierSettings) -> tuple[Party, Party]:
    """The reporter (the operator) and the sender of the reports, from the notifier settings.

    Raises:
        ConfigError: If no contact address or domain can be had from them.

    """
    address = parseaddr(settings.sender)[1]
    if "@" not in address or not _domain_of(address):
        raise ConfigError(f"[notifier] sender has no e-mail address for X-ARF reports: {settings.sender!r}")
    reporter = Party(org=settings.operator_name, contact=address, domain=_domain_of(address))
    contact = settings.xarf_sender_contact or address
    if "@" not in contact or not _domain_of(contact):
        raise ConfigError(f"[notifier] xarf_sender_contact is not an e-mail address: {contact!r}")
    sender = Party(
        org=settings.xarf_sender_org or settings.operator_name,
        contact=contact,
        domain=(settings.xarf_sender_domain or _domain_of(contact)).lower(),
    )
    return reporter, sender


def org_parties(org: OrgView, operator: Party) -> tuple[Party, Party]:
    """Reporter and sender when a hotline confirmed the items: its name, contact, domain (else the operator's)."""
    contact = org.notice_email or operator.contact
    party = Party(org=org.notice_name or org.name, contact=contact,
                  domain=org.notice_domain or _domain_of(contact) or operator.domain)
    return party, party


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tag(namespace: str, value: str) -> str:
    return f"{namespace}:{_TAG_PART.sub('_', value.lower()).strip('_') or 'none'}"


def _port(url: str) -> int | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    return port or {"http": 80, "https": 443}.get(parts.scheme)


def report_id(notice_id: str, item_id: int) -> str:
    """A UUID for one item's report in one notice (the same on every retry of that notice)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"orbweaver:xarf:{notice_id}:{item_id}"))


def build_report(
    notice: Notice,
    item: NoticeItem,
    *,
    reporter: Party,
    sender: Party,
    hosting_provider: str | None = None,
) -> dict[str, Any]:
    """One item's X-ARF v4 content/csam report (not yet validated).

    Raises:
        PermanentError: If the item's classification has no X-ARF classification.

    """
    host = (urlsplit(item.media_url).hostname or item.host or "").lower()
    hash_values = {"sha256": item.sha256.lower()}
    if item.pdq:
        # Not among the names X-ARF lists (md5, sha1, sha256, photodna); it allows others.
        hash_values["pdq"] = item.pdq.lower()
    summary = (
        f"Hash match. sha256={item.sha256} pdq={item.pdq or '-'} classification={item.classification} "
        f"evidence={notice.id}/{item.id}. This report contains no media."
    ).encode()
    report: dict[str, Any] = {
        "xarf_version": XARF_VERSION,
        "report_id": report_id(notice.id, item.id),
        "timestamp": _iso(item.first_seen),
        "reporter": reporter.as_json(),
        "sender": sender.as_json(),
        # The spec asks for the abuse source's IP or domain: the IP the crawler fetched it from, if known.
        "source_identifier": item.resolved_ip or host,
        "category": "content",
        "type": "csam",
        "url": item.media_url,
        "classification": str(xarf_classification(item.classification)),
        "detection_method": str(DETECTION_METHOD),
        "media_type": "image",
        "hash_values": hash_values,
        "content_removed": item.removed_at is not None,
        "evidence_source": "crawler",
        "verified_at": _iso(item.last_seen),
        "verification_method": "automated_crawler",
        "description": (f"Known child sexual abuse material found at this URL (page {item.page_url}); "
                        f"orbweaver classification {item.classification}; notice {notice.id}.")[:1000],
        "tags": [_tag("orbweaver_notice", notice.id), _tag("orbweaver_class", item.classification)],
        "confidence": 1.0,
        "evidence": [{
            "content_type": "text/plain",
            "description": "Hash match summary (no media)",
            "payload": base64.b64encode(summary).decode("ascii"),
            "hash": f"sha256:{hashlib.sha256(summary).hexdigest()}",
            "size": len(summary),
        }],
    }
    port = _port(item.media_url)
    if port is not None:
        report["source_port"] = port
    # X-ARF's domain pattern has no room for IP literals or punycode labels (xn--); those go without.
    if _DOMAIN.match(host):
        report["domain"] = host
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
    referencing = require("referencing", "notifier")
    resources = []
    for name in SCHEMA_FILES:
        schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        resources.append((schema["$id"], referencing.jsonschema.DRAFT202012.create_resource(schema)))
    # Only these resources: a $ref to anything else fails instead of going to the network.
    registry = referencing.Registry().with_resources(resources)
    return jsonschema.Draft202012Validator(
        {"$ref": CSAM_SCHEMA_ID}, registry=registry, format_checker=jsonschema.FormatChecker()
    )


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def validate(report: dict[str, Any]) -> None:
    """Check one report against the vendored X-ARF 4.0.0 content/csam schema.

    Raises:
        PermanentError: If it does not validate (the reason names the first problem).

    """
    url = urlsplit(str(report.get("url", "")))
    if url.scheme not in ("http", "https") or not url.netloc:
        raise PermanentError(f"X-ARF report url is not an absolute http(s) URL: {report.get('url')!r}")
    source = str(report.get("source_identifier", ""))
    if source and not (_is_address(source) or source == (url.hostname or "").lower()):
        raise PermanentError(f"X-ARF report source_identifier {source!r} is neither an IP nor the URL's host")
    first = min(_validator().iter_errors(report), key=lambda e: (list(map(str, e.path)), e.message), default=None)
    if first is not None:
        where = "/".join(map(str, first.path)) or "(root)"
        raise PermanentError(f"X-ARF report invalid: {where}: {first.message}")


def reports(
    notice: Notice, items: Sequence[NoticeItem], *, reporter: Party, sender: Party, hosting_provider: str | None
) -> list[dict[str, Any]]:
    """Validated reports for every item of a notice.

    Raises:
        PermanentError: If any item's report does not validate.

    """
    out = []
    for item in items:
        report = build_report(notice, item, reporter=reporter, sender=sender, hosting_provider=hosting_provider)
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

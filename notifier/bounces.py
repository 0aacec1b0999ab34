"""Notifier, after delivery: bounces that arrive later by mail, matched to their notices and escalated.

An SMTP server that accepted a notice may still fail to deliver it and mail a delivery status
notification (DSN, RFC 3464: ``multipart/report; report-type=delivery-status``) to the sender.
Operators have their mail system deliver that mailbox into a Maildir folder
(``[notifier] bounce_maildir``); the notifier worker reads it on every tick and
``orbweaver bounces`` reads it on demand. A DSN whose recipients *failed* (a permanent
``5.x.x``) names our notice through the original Message-ID (derived from the delivery's
idempotency key, see :func:`notifier.channels.message_id`): the notice is marked bounced and
escalates to the next contact, as a hard failure at sending time does. Delays (``4.x.x``),
auto-replies, human answers and bounces of mail that is not a notice are left for a person.

Nothing is deleted: each message read moves into a sub-folder of the Maildir by outcome
(``.orbweaver-bounced``, ``.orbweaver-delayed``, ``.orbweaver-unmatched``), so a message is
acted on once and stays there to be read. A log line carries the notice id, the DSN status and
the diagnostic, never the bounced message's body.
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from enum import StrEnum
from pathlib import Path

import structlog
from sqlalchemy import select

from core.store import Store
from core.store.tables.notifier import Delivery

log = structlog.get_logger(__name__)

_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s]+>")
_DIAGNOSTIC_CHARS = 300


class BounceOutcome(StrEnum):
    """What became of one message of the bounce mailbox; each names the sub-folder it moves to."""

    BOUNCED = "bounced"
    DELAYED = "delayed"
    UNMATCHED = "unmatched"


@dataclass(frozen=True)
class DeliveryReport:
    """What one DSN says: the original message's ids and how delivery to its recipients ended.

    Attributes:
        message_ids: Message-IDs of the message the report is about (from its returned headers).
        failed: Whether some recipient failed for good (``Action: failed``).
        delayed: Whether some recipient is only delayed (``Action: delayed``).
        reason: ``<status> <recipient>: <diagnostic>`` of the first failed (else delayed) recipient.
    """

    message_ids: tuple[str, ...]
    failed: bool
    delayed: bool
    reason: str


@dataclass
class BounceSummary:
    """What one pass over the bounce mailbox did."""

    read: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    bounced_notices: list[str] = field(default_factory=list)
    escalated_to: list[str] = field(default_factory=list)


def delivery_report(message: Message) -> DeliveryReport | None:
    """Read a delivery status notification; None when ``message`` is not one.

    Args:
        message: A parsed e-mail.
    """
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        return None
    recipients: list[Message] = []
    message_ids: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = part.get_payload()
            # Python parses the status body into header blocks: the per-message one, then one per recipient.
            if isinstance(blocks, list):
                recipients.extend(b for b in blocks[1:] if isinstance(b, Message))
        elif kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(part.get_payload())
            message_ids.extend(_ids(HeaderParser().parsestr(text).get_all("Message-ID") or []))
        elif kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                message_ids.extend(_ids(inner[0].get_all("Message-ID") or []))
    actions = [(str(r.get("Action", "")).strip().lower(), r) for r in recipients]
    failed = [r for action, r in actions if action == "failed"]
    delayed = [r for action, r in actions if action == "delayed"]
    first = (failed or delayed)[:1]
    return DeliveryReport(
        message_ids=tuple(dict.fromkeys(message_ids)),
        failed=bool(failed),
        delayed=bool(delayed),
        reason=_reason(first[0]) if first else "no recipient failed or was delayed",
    )


def _ids(values: Iterable[str]) -> list[str]:
    return [found for value in values for found in _MESSAGE_ID.findall(str(value))]


def _reason(recipient: Message) -> str:
    status = str(recipient.get("Status", "")).strip() or "?"
    who = str(recipient.get("Final-Recipient", "") or recipient.get("Original-Recipient", "")).strip()
    who = who.split(";", 1)[-1].strip()
    diagnostic = " ".join(str(recipient.get("Diagnostic-Code", "")).split())
    diagnostic = diagnostic.split(";", 1)[-1].strip()[:_DIAGNOSTIC_CHARS]
    return f"{status} {who}: {diagnostic}".strip()


def notice_for(store: Store, message_ids: Iterable[str]) -> str | None:
    """The notice whose delivery sent a message with one of ``message_ids`` (its stored reference)."""
    ids = list(message_ids)
    if not ids:
        return None
    with store.session() as s:
        found = s.scalars(select(Delivery.notice_id).where(Delivery.reference.in_(ids)).limit(1)).first()
    return found


def collect(
    maildir: Path, store: Store, record_bounce: Callable[[str, str], list[str]]
) -> BounceSummary:
    """Read every message of the bounce Maildir, escalate bounced notices, file each message away.

    Args:
        maildir: The Maildir folder the bounce mailbox is delivered to (created if missing).
        store: The store holding the deliveries.
        record_bounce: The notifier's :meth:`~notifier.stage.NotifierStage.record_bounce`.

    Returns:
        Counts by outcome, the notices marked bounced and whom they escalated to.
    """
    box = mailbox.Maildir(maildir, create=True)
    folders = {outcome: _folder(box, outcome) for outcome in BounceOutcome}
    summary = BounceSummary()
    for key in list(box.keys()):
        try:
            message = box.get_message(key)
        except (KeyError, FileNotFoundError):
            continue  # another reader took it first
        report = delivery_report(message)
        outcome, notice = _judge(report, store)
        if outcome is BounceOutcome.BOUNCED and notice is not None and report is not None:
            summary.escalated_to.extend(record_bounce(notice, f"bounce: {report.reason}"))
            summary.bounced_notices.append(notice)
        folders[outcome].add(message)
        box.remove(key)
        summary.read += 1
        summary.by_outcome[outcome] = summary.by_outcome.get(outcome, 0) + 1
        log.info("notifier.bounce_mail", outcome=str(outcome), notice=notice)
    return summary


def _judge(report: DeliveryReport | None, store: Store) -> tuple[BounceOutcome, str | None]:
    if report is None:
        return BounceOutcome.UNMATCHED, None
    notice = notice_for(store, report.message_ids)
    if notice is None:
        return BounceOutcome.UNMATCHED, None
    if report.failed:
        return BounceOutcome.BOUNCED, notice
    return (BounceOutcome.DELAYED if report.delayed else BounceOutcome.UNMATCHED), notice


def _folder(box: mailbox.Maildir, outcome: BounceOutcome) -> mailbox.Maildir:
    name = f"orbweaver-{outcome}"
    try:
        return box.get_folder(name)
    except mailbox.NoSuchMailboxError:
        return box.add_folder(name)

"""The web app's audit trail (top of the stack): who viewed, revealed, decided, exported or administered what.

Every event is one :class:`core.store.tables.web.AuditEvent` row (the table ``Store.audit`` writes),
stamped with the app's clock. Action names are storage keys: never rename one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select

from core.spreadsheet import csv_cell
from core.store import Store
from core.store.tables.web import AuditEvent


class AuditAction(StrEnum):
    """What was done. The values are storage keys."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_OUT = "auth.sign_out"
    USER_CREATE = "admin.user_create"
    USER_DISABLE = "admin.user_disable"
    USER_ENABLE = "admin.user_enable"
    USER_PASSWORD_RESET = "admin.user_password_reset"
    USER_ROLES = "admin.user_roles"
    USER_ORG = "admin.user_org"
    ORG_CREATE = "admin.org_create"
    ORG_OPT_IN = "admin.org_opt_in"
    ORGS_VIEW = "admin.orgs_view"
    TOKEN_CREATE = "admin.token_create"
    TOKEN_REVOKE = "admin.token_revoke"
    USERS_VIEW = "admin.users_view"
    AUDIT_VIEW = "audit.view"
    AUDIT_EXPORT = "audit.export"
    QUEUE_VIEW = "review.queue_view"
    ITEM_VIEW = "review.item_view"
    MEDIA_VIEW = "review.media_view"
    REVEAL = "review.reveal"
    DECISION = "review.decision"
    DECISION_UNDO = "review.decision_undo"
    USER_UNLOCK = "admin.user_unlock"
    BREAK = "review.break"
    TEAM_VIEW = "review.team_view"
    PREFERENCES = "review.preferences"
    FORWARD = "review.forward"
    AGREEMENT_VIEW = "review.agreement_view"
    NOTICES_VIEW = "provider.notices_view"
    NOTICE_VIEW = "provider.notice_view"


def record(
    store: Store, actor: str, action: str, subject: str | None = None, *, at: datetime, **detail: Any
) -> None:
    """Append one audit event in its own transaction.

    Args:
        store: The shared store.
        actor: Who acted: a user name, or ``cli:<name>`` for the command line.
        action: An :class:`AuditAction` value (other modules may add their own ``area.verb`` names).
        subject: The object acted on, as ``kind:id`` (``item:12``, ``user:alice``, ``notice:…``).
        at: When (the app's clock).
        **detail: JSON-serialisable particulars; never media bytes.

    """
    with store.session() as s:
        s.add(AuditEvent(at=at, actor=actor, action=str(action), subject=subject, detail=detail))


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events an admin asked for; every field optional."""

    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    """Exact subject (``item:12``), or a prefix ending in ``:`` (``item:``)."""
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        """Narrow a query over :class:`AuditEvent` to this filter."""
        if self.actor:
            query = query.where(AuditEvent.actor == self.actor)
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.subject:
            if self.subject.endswith(":"):
                query = query.where(AuditEvent.subject.startswith(self.subject, autoescape=True))
            else:
                query = query.where(AuditEvent.subject == self.subject)
        if self.since is not None:
            query = query.where(AuditEvent.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEvent.at < self.until)
        return query

    def as_detail(self) -> dict[str, str]:
        """The filter as audit detail (itself recorded when an admin reads or exports the log)."""
        out = {k: getattr(self, k) for k in ("actor", "action", "subject", "since", "until")}
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in out.items() if v}


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One event as shown and exported."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "action": self.action,
                "subject": self.subject, "detail": self.detail}


def _row(e: AuditEvent) -> AuditRow:
    return AuditRow(id=e.id, at=e.at, actor=e.actor, action=e.action, subject=e.subject, detail=dict(e.detail or {}))


def page(store: Store, flt: AuditFilter, *, limit: int, before_id: int | None = None) -> list[AuditRow]:
    """Newest-first events matching ``flt``, ``limit`` at most, older than ``before_id`` when given."""
    query = flt.apply(select(AuditEvent))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    with store.session() as s:
        return [_row(e) for e in s.scalars(query.order_by(AuditEvent.id.desc()).limit(limit))]


def count_distinct_subjects(store: Store, actor: str, action: str, since: datetime) -> int:
    """How many different subjects ``actor`` did ``action`` to since ``since`` (items seen today)."""
    query = (
        select(func.count(func.distinct(AuditEvent.subject)))
        .where(AuditEvent.actor == actor, AuditEvent.action == action, AuditEvent.at >= since)
    )
    with store.session() as s:
        return int(s.scalar(query) or 0)


EXPORT_FIELDS = ("id", "at", "actor", "action", "subject", "detail")


def export(store: Store, flt: AuditFilter, fmt: str, *, batch: int = 1000) -> Iterator[str]:
    """Every matching event, oldest first, as CSV (with a header) or JSON Lines, in chunks of text.

    Raises:
        ValueError: If ``fmt`` is neither ``csv`` nor ``jsonl``.

    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r}: use csv or jsonl")
    if fmt == "csv":
        yield ",".join(EXPORT_FIELDS) + "\r\n"
    after = 0
    while True:
        query = flt.apply(select(AuditEvent)).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch)
        with store.session() as s:
            rows = [_row(e) for e in s.scalars(query)]
        if not rows:
            return
        buf = io.StringIO()
        if fmt == "csv":
            writer = csv.writer(buf)
            for r in rows:
                d = r.as_dict()
                # A leading = + - @ makes spreadsheets evaluate a cell; analysts open these exports.
                writer.writerow([csv_cell(d[k]) if k != "detail" else csv_cell(json.dumps(d[k], sort_keys=True))
                                 for k in EXPORT_FIELDS])
        else:
            for r in rows:
                buf.write(json.dumps(r.as_dict(), sort_keys=True) + "\n")
        yield buf.getvalue()
        after = rows[-1].id

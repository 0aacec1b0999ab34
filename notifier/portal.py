"""Notifier service for the provider portal (web calls it): removal claims, contests, and their outcome.

The notifier owns ``notice_contests`` and ``notice_recipients``; the portal (``web/provider.py``)
changes them only through these functions. A contest is decided by a senior analyst: upheld, the
notices resume; accepted, review reclassifies the media as not CSAM and announces it on
```review.decisions``, and :func:`apply_decision` (run by the notifier stage for that message)
withdraws the item's open notice items and accepts any contest of it still open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.bus import Bus
from core.errors import PermanentError
from core.messages import ACTIONABLE, RecheckRequest, ReviewDecision, derive_id
from core.store import Store
from core.store.tables.notifier import NoticeContest, NoticeItem, NoticeRecipient, Provider, Recheck
from review.service import classification_of

log = structlog.get_logger(__name__)


class ContestStatus(StrEnum):
    """Where a provider's contest stands. Values are storage keys (``notice_contests.status``)."""

    OPEN = "open"
    UPHELD = "upheld"
    """The classification stands; the item's notices resume."""
    ACCEPTED = "accepted"
    """The media is not CSAM: reclassified, allow-listed, its notice items withdrawn."""


WITHDRAWN = "withdrawn"
"""Status of a notice item closed because its classification was overturned (not a removal)."""


def uncontested() -> ColumnElement[bool]:
    """Items no provider's open contest holds back: a contested item gets no notice until a senior analyst decides."""
    return NoticeItem.id.not_in(select(NoticeContest.notice_item_id).where(NoticeContest.status == ContestStatus.OPEN))


def recheck_request(item_id: int, media_url: str, sha256: str, notice_id: str | None, when: datetime) -> RecheckRequest:
    """The crawler's recheck of one item as of ``when``; the id is fixed per (item, time), so a republish dedupes."""
    return RecheckRequest(message_id=derive_id("recheck", str(item_id), str(when)), media_url=media_url,
                          sha256=sha256, notice_id=notice_id)


def publish_recheck(bus: Bus, store: Store, item_id: int, *, now: datetime) -> RecheckRequest | None:
    """Ask the crawler to recheck one open item now (its provider says it removed it); the schedule stays as it is.

    Returns:
        The published request, or None when the item is not open (already closed, or unknown).

    """
    with store.session() as s:
        row = s.execute(
            select(NoticeItem.media_url, NoticeItem.sha256, NoticeItem.notice_id)
            .where(NoticeItem.id == item_id, NoticeItem.status == "open")
        ).first()
    if row is None:
        return None
    request = recheck_request(item_id, row.media_url, row.sha256, row.notice_id, now)
    bus.publish(request)
    bus.flush()
    log.info("notifier.recheck_requested_now", item=item_id, media_url=row.media_url)
    return request


class PortalRefusedError(PermanentError):
    """A portal action the notifier does not accept; ``missing`` tells "no such thing" from "not now"."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


class Claim(StrEnum):
    """What a removal claim did."""

    REQUESTED = "removed"
    """Recorded, and an immediate recheck was asked of the crawler."""
    PENDING = "pending"
    """An earlier claim's recheck is still on its way: nothing new was asked."""


@dataclass(frozen=True, slots=True)
class ContestEntry:
    """One provider's contest of one noticed item, as a senior analyst (or the provider) sees it."""

    contest_id: int
    status: str
    review_item_id: int
    notice_item_id: int
    notice_id: str
    provider_id: int
    provider_name: str
    media_url: str
    page_url: str
    sha256: str
    classification: str | None
    """The review item's classification now."""
    reason: str
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


def _entry(session: Session, contest: NoticeContest) -> ContestEntry:
    item = session.get(NoticeItem, contest.notice_item_id)
    provider = session.get(Provider, contest.provider_id)
    assert item is not None
    return ContestEntry(
        contest_id=contest.id, status=contest.status, review_item_id=contest.review_item_id,
        notice_item_id=contest.notice_item_id, notice_id=contest.notice_id, provider_id=contest.provider_id,
        provider_name=provider.name if provider is not None else f"provider {contest.provider_id}",
        media_url=item.media_url, page_url=item.page_url, sha256=item.sha256,
        classification=classification_of(session, contest.review_item_id),
        reason=contest.reason, created_by=contest.created_by, created_at=contest.created_at,
        decided_by=contest.decided_by, decided_at=contest.decided_at, note=contest.note,
    )


def contests(store: Store, *, limit: int = 100) -> list[ContestEntry]:
    """Open contests, oldest first: they wait in every senior analyst's queue."""
    with store.session() as s:
        rows = s.scalars(select(NoticeContest).where(NoticeContest.status == ContestStatus.OPEN)
                         .order_by(NoticeContest.created_at, NoticeContest.id).limit(limit)).all()
        return [_entry(s, c) for c in rows]


def contest(store: Store, contest_id: int) -> ContestEntry | None:
    """One contest, whatever its status."""
    with store.session() as s:
        row = s.get(NoticeContest, contest_id)
        return _entry(s, row) if row is not None else None


def _open_item(session: Session, item_id: int) -> NoticeItem:
    row = session.get(NoticeItem, item_id)
    if row is None:
        raise PortalRefusedError("no such item in this notice", missing=True)
    if row.status != "open":
        raise PortalRefusedError("this item is already closed")
    return row


def claim_removal(store: Store, bus: Bus, item_id: int, provider_id: int, *, now: datetime,
                  retry_after: timedelta) -> tuple[Claim, str | None]:
    """A provider says it removed an item: ask the crawler to recheck it now and remember the claim.

    A second claim within ``retry_after`` of an unanswered one asks for nothing new.

    Returns:
        What the claim did, and the recheck request's message id when one was published.

    Raises:
        PortalRefusedError: The item is closed, or ``provider_id`` is not told about it (``missing``).

    """
    with store.session() as s:
        row = _open_item(s, item_id)
        recipient = s.scalars(select(NoticeRecipient).where(NoticeRecipient.notice_item_id == item_id,
                                                            NoticeRecipient.provider_id == provider_id)).first()
        if recipient is None:
            raise PortalRefusedError("no such item in this notice", missing=True)
        claimed = recipient.removal_claimed_at
        answered = claimed is not None and s.scalar(select(Recheck.id).where(
            Recheck.media_url == row.media_url, Recheck.expected_sha256 == row.sha256,
            Recheck.checked_at >= claimed)) is not None
    if claimed is not None and not answered and now - claimed < retry_after:
        return Claim.PENDING, None
    # Published before the claim is stored: a bus failure leaves nothing half done and the provider may retry.
    request = publish_recheck(bus, store, item_id, now=now)
    if request is None:
        raise PortalRefusedError("this item is already closed")
    with store.session() as s:
        s.execute(update(NoticeRecipient)
                  .where(NoticeRecipient.notice_item_id == item_id, NoticeRecipient.provider_id == provider_id)
                  .values(removal_claimed_at=now))
    return Claim.REQUESTED, request.message_id


def open_contest(store: Store, *, item_id: int, provider_id: int, notice_id: str, reason: str, created_by: str,
                 now: datetime) -> int:
    """Record a provider's contest of an open item's classification; its notices pause until it is decided.

    Returns:
        The contest's id.

    Raises:
        PortalRefusedError: The item is closed or unknown, or this provider contested it already.

    """
    try:
        with store.session() as s:
            row = _open_item(s, item_id)
            earlier = s.scalars(select(NoticeContest).where(NoticeContest.notice_item_id == item_id,
                                                            NoticeContest.provider_id == provider_id)).first()
            if earlier is not None:
                raise PortalRefusedError(f"you already contested this item (contest {earlier.status})")
            entry = NoticeContest(notice_item_id=item_id, provider_id=provider_id, review_item_id=row.review_item_id,
                                  notice_id=notice_id, reason=reason, status=ContestStatus.OPEN,
                                  created_by=created_by, created_at=now)
            s.add(entry)
            s.flush()
            return entry.id
    except IntegrityError:
        # Two submissions raced; the other one was stored.
        raise PortalRefusedError("you already contested this item") from None


def decide_contest(store: Store, contest_id: int, senior: str, status: ContestStatus, *, now: datetime,
                   note: str | None = None) -> ContestEntry:
    """Record a senior analyst's decision on a contest (review reclassifies the media itself when accepted).

    Accepting a contest that :func:`apply_decision` already accepted (the decision's announcement
    came first) only adds the note.

    Raises:
        PortalRefusedError: Unknown contest (``missing``), or one already decided otherwise.

    """
    if status is ContestStatus.OPEN:
        raise ValueError("a decision upholds or accepts")
    with store.session() as s:
        row = s.execute(select(NoticeContest).where(NoticeContest.id == contest_id)
                        .with_for_update()).scalar_one_or_none()
        if row is None:
            raise PortalRefusedError(f"no contest {contest_id}", missing=True)
        if row.status == ContestStatus.OPEN:
            row.status, row.decided_by, row.decided_at, row.note = status, senior, now, note
        elif row.status == status == ContestStatus.ACCEPTED and row.note is None:
            row.note = note
        else:
            raise PortalRefusedError(f"this contest was already decided ({row.status})")
        s.flush()
        log.info("notifier.contest_decided", contest=contest_id, senior=senior, status=str(status))
        return _entry(s, row)


def apply_decision(store: Store, decision: ReviewDecision) -> list[int]:
    """Withdraw the open notice items of media review settled as not actionable; idempotent.

    Every recipient stops waiting for a notice, and any contest of the item still open is accepted.

    Returns:
        The notice items withdrawn now (empty when redelivered or when the media stays actionable).

    """
    if decision.classification in ACTIONABLE:
        return []
    with store.session() as s:
        withdrawn = list(s.scalars(select(NoticeItem.id).where(NoticeItem.review_item_id == decision.review_item_id,
                                                               NoticeItem.status == "open")))
        if withdrawn:
            s.execute(update(NoticeItem).where(NoticeItem.id.in_(withdrawn)).values(status=WITHDRAWN))
            s.execute(update(NoticeRecipient).where(NoticeRecipient.notice_item_id.in_(withdrawn))
                      .values(pending=False))
        s.execute(update(NoticeContest)
                  .where(NoticeContest.review_item_id == decision.review_item_id,
                         NoticeContest.status == ContestStatus.OPEN)
                  .values(status=ContestStatus.ACCEPTED, decided_by=decision.decided_by,
                          decided_at=decision.decided_at))
    if withdrawn:
        log.info("notifier.withdrawn", review_item=decision.review_item_id, items=withdrawn,
                 classification=str(decision.classification))
    return withdrawn

"""Notifier service for the provider portal (web calls it): removal claims, contests, and their outcome.

The notifier owns ``notice_contests`` and ``notice_recipients``; the portal (``web/provider.py``)
changes them only through these functions. A contest is decided by a senior analyst: upheld, the
notices resume; accepted, review reclassifies the media as not CSAM and announces it on
```review.decisions``, and :func:`apply_decision` (run by the notifier stage for that message)
withdraws the item's open notice items and accepts any contest of it still open.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.bus import Bus
from core.errors import PermanentError
from core.messages import ACTIONABLE, RecheckOutcome, RecheckRequest, ReviewDecision, derive_id
from core.store import Store
from core.store.tables.notifier import (
    Notice,
    NoticeContest,
    NoticeEntry,
    NoticeItem,
    NoticeRecipient,
    Provider,
    Recheck,
)
from notifier.states import ContestStatus, NoticeItemStatus
from review.service import classification_of

log = structlog.get_logger(__name__)


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
            .where(NoticeItem.id == item_id, NoticeItem.status == NoticeItemStatus.OPEN)
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
    if row.status != NoticeItemStatus.OPEN:
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
                                                               NoticeItem.status == NoticeItemStatus.OPEN)))
        if withdrawn:
            s.execute(update(NoticeItem).where(NoticeItem.id.in_(withdrawn)).values(status=NoticeItemStatus.WITHDRAWN))
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


# --- the provider portal's reads ---------------------------------------------------------------------------------


class ItemState(StrEnum):
    """Where one noticed item stands, as its provider sees it."""

    OPEN = "open"
    REMOVAL_CLAIMED = "removal_claimed"
    RECHECKING = "rechecking"
    GONE = "gone"
    CONTESTED = "contested"
    CHANGED = "changed"
    WITHDRAWN = "withdrawn"


STATE_LABELS = {
    ItemState.OPEN: "open",
    ItemState.REMOVAL_CLAIMED: "removal claimed",
    ItemState.RECHECKING: "rechecking",
    ItemState.GONE: "gone",
    ItemState.CONTESTED: "contested",
    ItemState.CHANGED: "changed",
    ItemState.WITHDRAWN: "withdrawn (contest accepted)",
}


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


@dataclass(frozen=True, slots=True)
class PortalItem:
    """One item of a notice as its provider sees it: what the notice said, and where the item stands."""

    id: int
    url: str
    page_url: str
    first_seen: datetime
    last_verified_present: datetime
    sha256: str
    pdq: str | None
    classification: str
    evidence_reference: str
    state: ItemState
    label: str
    detail: str
    removed_at: datetime | None
    time_to_removal: str | None
    time_to_removal_hours: float | None
    removal_claimed_at: datetime | None
    contest_status: str | None
    contest_reason: str | None
    contested_at: datetime | None
    contest_decided_at: datetime | None
    contest_note: str | None

    @property
    def may_act(self) -> bool:
        """Whether the provider may still say "removed" or contest it."""
        return self.state not in (ItemState.GONE, ItemState.CHANGED, ItemState.WITHDRAWN)

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form (ISO times; no media, ever)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        out["state"] = str(self.state)
        return out


def _at(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M UTC}"


def _state(item: NoticeItem, claimed: datetime | None, contest: NoticeContest | None,
           answer: Recheck | None) -> tuple[ItemState, str]:
    """The provider's view of one item: its state and a sentence saying why.

    ``answer`` is the latest recheck made since this provider's removal claim, if any.
    """
    if item.status == "removed":
        return ItemState.GONE, f"Verified gone at {_at(item.removed_at)}." if item.removed_at else "Verified gone."
    if item.status == "changed":
        return ItemState.CHANGED, "The URL now serves other content; the reported file is gone from it."
    if item.status == NoticeItemStatus.WITHDRAWN:
        return ItemState.WITHDRAWN, "Closed: the classification was withdrawn."
    if contest is not None and contest.status == ContestStatus.OPEN:
        return ItemState.CONTESTED, (f"You contested it at {_at(contest.created_at)}; a senior analyst will decide. "
                                     "No further notice about it is sent meanwhile.")
    if claimed is not None and answer is None:
        return ItemState.REMOVAL_CLAIMED, f"You reported its removal at {_at(claimed)}; a recheck is on its way."
    if claimed is not None and answer is not None and answer.outcome == RecheckOutcome.ERROR:
        return ItemState.RECHECKING, (f"The recheck at {_at(answer.checked_at)} could not reach the URL; "
                                      "it is checked again on schedule.")
    if claimed is not None and answer is not None and answer.outcome == RecheckOutcome.PRESENT:
        return ItemState.OPEN, (f"You reported its removal at {_at(claimed)}, but the recheck at "
                                f"{_at(answer.checked_at)} still found it.")
    return ItemState.OPEN, "Still online when last verified."


def _contest_text(contest: NoticeContest | None) -> str:
    if contest is None or contest.decided_at is None:
        return ""
    if contest.status == ContestStatus.UPHELD:
        return f" Contest rejected at {_at(contest.decided_at)}."
    if contest.status == ContestStatus.ACCEPTED:
        return f" Contest accepted at {_at(contest.decided_at)}."
    return ""


def listed_item_ids(s: Session, notice_id: str) -> list[int]:
    """Items a notice listed: its entries, and items noticed before entries were kept (their first notice)."""
    entries = select(NoticeEntry.notice_item_id).where(NoticeEntry.notice_id == notice_id)
    listed = or_(NoticeItem.id.in_(entries), NoticeItem.notice_id == notice_id)
    return list(s.scalars(select(NoticeItem.id).where(listed).order_by(NoticeItem.id)))


def portal_items(s: Session, notice: Notice) -> list[PortalItem]:
    """The items a notice listed, each with where it stands for the notice's provider."""
    ids = listed_item_ids(s, notice.id)
    if not ids:
        return []
    items = s.scalars(select(NoticeItem).where(NoticeItem.id.in_(ids)).order_by(NoticeItem.id)).all()
    recipients = {r.notice_item_id: r for r in s.scalars(select(NoticeRecipient).where(
        NoticeRecipient.notice_item_id.in_(ids), NoticeRecipient.provider_id == notice.provider_id))}
    contests = {c.notice_item_id: c for c in s.scalars(select(NoticeContest).where(
        NoticeContest.notice_item_id.in_(ids), NoticeContest.provider_id == notice.provider_id))}
    claims = [r.removal_claimed_at for r in recipients.values() if r.removal_claimed_at is not None]
    answers: dict[tuple[str, str], list[Recheck]] = {}
    if claims:
        # Only rechecks made after this provider's claim answer it.
        for row in s.scalars(select(Recheck).where(Recheck.media_url.in_({i.media_url for i in items}),
                                                   Recheck.checked_at >= min(claims))
                             .order_by(Recheck.checked_at, Recheck.id)):
            answers.setdefault((row.media_url, row.expected_sha256), []).append(row)
    out: list[PortalItem] = []
    for item in items:
        recipient, contest = recipients.get(item.id), contests.get(item.id)
        claimed = recipient.removal_claimed_at if recipient is not None else None
        later = [a for a in answers.get((item.media_url, item.sha256), []) if claimed and a.checked_at >= claimed]
        state, detail = _state(item, claimed, contest, later[-1] if later else None)
        to_removal = None
        if state is ItemState.GONE and item.removed_at is not None and item.first_noticed_at is not None:
            to_removal = max(item.removed_at - item.first_noticed_at, timedelta(0))
        out.append(PortalItem(
            id=item.id, url=item.media_url, page_url=item.page_url, first_seen=item.first_seen,
            last_verified_present=item.last_seen, sha256=item.sha256, pdq=item.pdq,
            classification=item.classification, evidence_reference=f"{notice.id}/{item.id}", state=state,
            label=STATE_LABELS[state], detail=detail + _contest_text(contest), removed_at=item.removed_at,
            time_to_removal=_duration(to_removal) if to_removal is not None else None,
            time_to_removal_hours=round(to_removal.total_seconds() / 3600, 2) if to_removal is not None else None,
            removal_claimed_at=claimed, contest_status=contest.status if contest is not None else None,
            contest_reason=contest.reason if contest is not None else None,
            contested_at=contest.created_at if contest is not None else None,
            contest_decided_at=contest.decided_at if contest is not None else None,
            contest_note=contest.note if contest is not None else None,
        ))
    return out


def notice_visible(session: Session, notice_id: str, provider_id: int | None) -> bool:
    """Whether the notice exists and, for a provider's user (``provider_id``), was sent to that provider."""
    row = session.get(Notice, notice_id)
    return row is not None and (provider_id is None or row.provider_id == provider_id)


def item_listed(session: Session, notice_id: str, item_id: int) -> bool:
    """Whether the notice listed the item."""
    return session.get(NoticeItem, item_id) is not None and item_id in listed_item_ids(session, notice_id)


def notice_view(session: Session, notice_id: str,
                provider_id: int | None) -> tuple[dict[str, Any], list[PortalItem]] | None:
    """A notice and its items as its provider sees them; None if it is not ``provider_id``'s (or does not exist)."""
    if not notice_visible(session, notice_id, provider_id):
        return None
    row = session.get(Notice, notice_id)
    assert row is not None
    provider = session.get(Provider, row.provider_id)
    data = {"id": row.id, "status": row.status, "created_at": row.created_at, "sent_at": row.sent_at,
            "sequence": row.sequence, "renotice": row.sequence - 1, "language": row.language, "role": row.role,
            "provider": provider.name if provider is not None else str(row.provider_id),
            "provider_id": row.provider_id}
    return data, portal_items(session, row)


def provider_notices(session: Session, provider_id: int, *, limit: int) -> tuple[str, list[dict[str, Any]]] | None:
    """A provider's name and its latest notices with their item counts; None for an unknown provider."""
    s = session
    row = s.get(Provider, provider_id)
    if row is None:
        return None
    notices = s.scalars(select(Notice).where(Notice.provider_id == provider_id)
                        .order_by(Notice.created_at.desc(), Notice.id).limit(limit)).all()
    ids = [n.id for n in notices]
    listed: dict[str, set[int]] = {n: set() for n in ids}
    for notice_id, item_id in s.execute(select(NoticeEntry.notice_id, NoticeEntry.notice_item_id)
                                        .where(NoticeEntry.notice_id.in_(ids))):
        listed[notice_id].add(item_id)
    for item_id, first_notice in s.execute(select(NoticeItem.id, NoticeItem.notice_id)
                                           .where(NoticeItem.notice_id.in_(ids))):
        listed[str(first_notice)].add(item_id)
    every: set[int] = set()
    for members in listed.values():
        every |= members
    status = dict(s.execute(select(NoticeItem.id, NoticeItem.status).where(NoticeItem.id.in_(every))).all())
    contested = set(s.scalars(select(NoticeContest.notice_item_id).where(
        NoticeContest.notice_item_id.in_(every), NoticeContest.provider_id == provider_id,
        NoticeContest.status == ContestStatus.OPEN)))
    shown = [{"id": n.id, "status": n.status, "created_at": n.created_at, "sent_at": n.sent_at,
              "sequence": n.sequence, "renotice": n.sequence - 1, "language": n.language, "role": n.role,
              "item_count": len(listed[n.id]),
              "open": sum(status.get(i) == NoticeItemStatus.OPEN for i in listed[n.id]),
              "closed": sum(status.get(i) != NoticeItemStatus.OPEN for i in listed[n.id]),
              "contested": len(listed[n.id] & contested)} for n in notices]
    return row.name, shown


def provider_index(session: Session) -> list[dict[str, Any]]:
    """Every provider with how many notices it was sent (an admin's list of portals)."""
    rows = session.execute(
        select(Provider.id, Provider.name, Provider.kind, func.count(Notice.id))
        .outerjoin(Notice, Notice.provider_id == Provider.id)
        .group_by(Provider.id, Provider.name, Provider.kind)
        .order_by(Provider.name)
    ).all()
    return [{"id": pid, "name": name, "kind": kind, "notices": int(count)} for pid, name, kind, count in rows]

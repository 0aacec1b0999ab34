"""Review stage service: settling an item's classification and announcing it to the notifier.

Every way an item is settled (an automatic rule now, analysts' agreement later) goes through
:func:`record_settlement` and then :func:`announce`. Announcing is an outbox step: the item row
remembers when its decision and notice requests were published, so a crash between the store
commit and the publish is repaired by the redelivered message, and downstream deduplicates by
deterministic message ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.bus import Bus
from core.messages import (
    ACTIONABLE,
    Classification,
    MediaRef,
    Message,
    NoticeRequest,
    ReviewDecision,
    derive_id,
    utcnow,
)
from core.store import Store, insert_ignore
from core.store.stats import counts_by
from core.store.tables.review import ReviewDecisionRow, ReviewItem, ReviewKind
from crawler import sightings
from hashing.media import pdq_of

SETTLED = frozenset({"confirmed", "rejected"})


def record_settlement(
    session: Session,
    item: ReviewItem,
    classification: Classification,
    *,
    decided_by: str,
    automatic: bool,
    reason: str | None = None,
    jurisdiction: str | None = None,
    record_decision: bool = True,
) -> bool:
    """Record a final classification for a pending item (in the caller's transaction).

    With ``record_decision`` a decision row for ``decided_by`` is added too; the analysts' workflow
    passes False because each analyst's own row is already there.

    Returns:
        True if the item was pending and is now settled; False if it was already settled.

    """
    if record_decision:
        insert_ignore(
            session,
            ReviewDecisionRow,
            {
                "review_item_id": item.id,
                "analyst": decided_by,
                "classification": str(classification),
                "jurisdiction": jurisdiction,
                "automatic": automatic,
                "reason": reason,
            },
            ["review_item_id", "analyst"],
        )
    if item.status in SETTLED:
        return False
    item.status = "confirmed" if classification in ACTIONABLE else "rejected"
    item.classification = str(classification)
    item.jurisdiction = jurisdiction
    item.decided_by = decided_by
    item.decided_at = utcnow()
    item.announced_at = None
    return True


def _request(
    item: ReviewItem, ref: MediaRef, pdq: str | None, first: MediaRef, last: MediaRef, headers: dict[str, str]
) -> NoticeRequest:
    assert item.classification is not None
    return NoticeRequest(
        message_id=derive_id("notice-request", str(item.id), ref.media_url),
        review_item_id=item.id,
        ref=ref,
        sha256=item.sha256,
        pdq=pdq,
        classification=Classification(item.classification),
        evidence_key=item.evidence_key,
        first_seen=first.fetched_at,
        last_seen=last.fetched_at,
        response_headers=headers,
    )


def settlement_messages(session: Session, item: ReviewItem, refs: Sequence[MediaRef] | None = None) -> list[Message]:
    """The decision and notice requests for a settled item.

    Args:
        session: Open store session.
        item: A settled review item.
        refs: Sightings to request notices for; all recorded sightings when None.

    """
    if item.status not in SETTLED or item.classification is None:
        return []
    out: list[Message] = [
        ReviewDecision(
            # Per classification: a contest's reclassification is a new decision, not a repeat of the first.
            message_id=derive_id("review-decision", str(item.id), str(item.classification)),
            review_item_id=item.id,
            sha256=item.sha256,
            classification=Classification(item.classification),
            jurisdiction=item.jurisdiction,
            decided_by=item.decided_by or "unknown",
            decided_at=item.decided_at or utcnow(),
        )
    ]
    if Classification(item.classification) not in ACTIONABLE:
        return out
    if refs is None:
        refs = sightings.media_refs(session, item.sha256)
    if not refs:
        return out
    pdq = pdq_of(session, item.sha256)
    ordered = sorted(refs, key=lambda r: r.fetched_at)
    headers = sightings.latest_headers(session, item.sha256)
    seen: set[str] = set()
    for ref in ordered:
        if ref.media_url in seen:
            continue
        seen.add(ref.media_url)
        out.append(_request(item, ref, pdq, ordered[0], ordered[-1], headers.get(ref.media_url, {})))
    return out


def announce(store: Store, bus: Bus, item_id: int, new_ref: MediaRef | None = None) -> int:
    """Publish a settled item's decision and notice requests, once per settlement.

    If the settlement was never announced, every sighting is announced and the item marked;
    otherwise only ``new_ref`` (a new sighting of already-classified media) is.

    Returns:
        How many notice requests were published.

    """
    with store.session() as s:
        item = s.get(ReviewItem, item_id)
        if item is None or item.status not in SETTLED:
            return 0
        first_time = item.announced_at is None
        if first_time:
            messages = settlement_messages(s, item)
        elif new_ref is not None:
            messages = settlement_messages(s, item, [new_ref])[1:]
        else:
            messages = []
    for message in messages:
        bus.publish(message)
    bus.flush()
    if first_time:
        with store.session() as s:
            item = s.get(ReviewItem, item_id)
            if item is not None:
                item.announced_at = utcnow()
    return sum(isinstance(m, NoticeRequest) for m in messages)


def classification_of(session: Session, item_id: int) -> str | None:
    """A review item's classification now (None while it is open or unknown): the notifier shows it on contests."""
    return session.scalar(select(ReviewItem.classification).where(ReviewItem.id == item_id))


def confirmed(session: Session) -> list[tuple[str, str]]:
    """``(sha256, classification)`` of every item settled as actionable (the hash feed publishes their hashes).

    An item reclassified later (an accepted contest) is no longer ``confirmed`` and drops out.
    """
    rows = session.execute(select(ReviewItem.sha256, ReviewItem.classification)
                           .where(ReviewItem.status == "confirmed", ReviewItem.classification.is_not(None))).all()
    return [(sha, str(classification)) for sha, classification in rows]


def settled_by(session: Session) -> list[tuple[str, str, str | None]]:
    """``(sha256, status, decided_by)`` of every review item (the demo's summary)."""
    rows = session.execute(select(ReviewItem.sha256, ReviewItem.status, ReviewItem.decided_by)).all()
    return [(sha, status, decided_by) for sha, status, decided_by in rows]


def status_counts(store: Store) -> dict[str, int]:
    """Review items per status (the dashboard's queue figures)."""
    return counts_by(store, ReviewItem.status)


@dataclass(frozen=True, slots=True)
class ItemView:
    """One review item as the web pages show it (a copy: changing it changes nothing stored)."""

    id: int
    sha256: str
    status: str
    classification: str | None
    best_algorithm: str
    best_distance: int
    best_entry_id: int | None
    evidence_key: str | None
    campaign_id: str | None
    created_at: datetime
    decided_at: datetime | None
    kind: ReviewKind = ReviewKind.MATCH


def item_view(session: Session, item_id: int) -> ItemView | None:
    """One review item, or None if there is none."""
    row = session.get(ReviewItem, item_id)
    if row is None:
        return None
    return ItemView(id=row.id, sha256=row.sha256, status=row.status, classification=row.classification,
                    best_algorithm=row.best_algorithm, best_distance=row.best_distance,
                    best_entry_id=row.best_entry_id, evidence_key=row.evidence_key, campaign_id=row.campaign_id,
                    created_at=row.created_at, decided_at=row.decided_at, kind=ReviewKind(row.kind))


def media_review_states(session: Session, sha256s: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """``sha256 -> (status, classification)`` of the review items of these media (report status and statistics).

    Media without a review item is absent: nothing on a known list matched it and nobody triaged it.
    """
    wanted = sorted(set(sha256s))
    if not wanted:
        return {}
    rows = session.execute(select(ReviewItem.sha256, ReviewItem.status, ReviewItem.classification)
                           .where(ReviewItem.sha256.in_(wanted))).all()
    return {sha: (status, classification) for sha, status, classification in rows}

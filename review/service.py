"""Review stage service: settling an item's classification and announcing it to the notifier.

Every way an item is settled (an automatic rule now, analysts' agreement later) goes through
:func:`record_settlement` and then :func:`announce`. Announcing is an outbox step: the item row
remembers when its decision and notice requests were published, so a crash between the store
commit and the publish is repaired by the redelivered message, and downstream deduplicates by
deterministic message ids.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from core.store.models import Media, ReviewDecisionRow, ReviewItem, Sighting

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


def _latest_headers(session: Session, sha256: str) -> dict[str, dict[str, str]]:
    """Per media URL, the response headers of its latest sighting (CDN evidence for the notifier)."""
    rows = session.execute(
        select(Sighting.media_url, Sighting.headers)
        .where(Sighting.sha256 == sha256)
        .order_by(Sighting.fetched_at, Sighting.id)
    ).all()
    latest: dict[str, dict[str, str]] = {}
    for media_url, headers in rows:
        if headers is None:
            continue  # recorded before migration 0007: no evidence either way, keep an older answer
        latest[media_url] = {str(k): str(v) for k, v in headers.items()}
    return latest


def _ref(s: Sighting) -> MediaRef:
    return MediaRef(
        campaign_id=s.campaign_id,
        page_url=s.page_url,
        media_url=s.media_url,
        final_url=s.final_url,
        resolved_ip=s.resolved_ip,
        fetched_at=s.fetched_at,
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
            message_id=derive_id("review-decision", str(item.id)),
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
        sightings = session.scalars(
            select(Sighting).where(Sighting.sha256 == item.sha256).order_by(Sighting.fetched_at, Sighting.id)
        ).all()
        refs = [_ref(s) for s in sightings]
    if not refs:
        return out
    media = session.get(Media, item.sha256)
    pdq = media.pdq if media is not None else None
    ordered = sorted(refs, key=lambda r: r.fetched_at)
    headers = _latest_headers(session, item.sha256)
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

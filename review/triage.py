"""Review stage, triage: unmatched media of reported pages, kept only until analysts assess it.

A reported page's media that matches no known list reaches review as a candidate without hits
(``matcher.stage``) and becomes a review item of kind :attr:`ReviewKind.TRIAGE`: the same queue,
claims, reduction, reveal steps and audit as a match, in its own tab. Its body waits under
``triage/`` in the blob store. Once the item is settled its media leaves triage at once: media
classified as actionable becomes evidence (``evidence/``, and joins the local list through the
workflow's usual path), any other media is deleted. Media nobody assessed within
``[review] triage_retention_days`` is deleted by :func:`expire` and its item closed as
:attr:`ReviewStatus.EXPIRED`, with an automatic decision row as its audit record.

:func:`assessed` and :func:`assessed_on_pages` answer, for the report status (``web.reports``),
whether a reported page's media has been assessed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.blobs import BlobStore, evidence_key
from core.store import Store
from core.store.tables.review import ReviewDecisionRow, ReviewItem
from core.store.tables.review import ReviewKind as ReviewKind  # re-exported: web reads review's enums through here
from core.store.tables.review import ReviewStatus as ReviewStatus
from crawler import sightings
from hashing.media import set_evidence_key

log = structlog.get_logger(__name__)

TRIAGE_PREFIX = "triage/"
TRIAGE_PRIORITY = 0.5
"""Queue priority of a triage item: below close matches (an exact hit is 1.0), above distant ones."""
RETENTION_RULE = "auto:triage-retention"
"""The decision row's ``analyst`` that records an expiry (the item's own audit record)."""
EXPIRED_KEY = "expired"
"""The decision row's ``classification`` of an expiry: not a class of the scheme, no analyst chose it."""

_OPEN = (ReviewStatus.PENDING, ReviewStatus.ESCALATED)


def settle_media(store: Store, blobs: BlobStore, item_ids: Collection[int] | None = None) -> list[int]:
    """Take the media of settled triage items out of triage: actionable media becomes evidence, the rest is deleted.

    Args:
        store: The shared store.
        blobs: The blob store holding ``triage/`` bodies.
        item_ids: The items just settled; None repairs every settled item whose media is still in
            triage (a crash between the settlement and this step).

    Returns:
        The ids of the items whose media moved or was deleted.

    """
    query = select(ReviewItem).where(ReviewItem.kind == ReviewKind.TRIAGE, ReviewItem.status.not_in(_OPEN),
                                     ReviewItem.evidence_key.like(f"{TRIAGE_PREFIX}%"))
    if item_ids is not None:
        if not item_ids:
            return []
        query = query.where(ReviewItem.id.in_(list(item_ids)))
    done: list[int] = []
    with store.session() as s:
        for item in s.scalars(query.with_for_update()):
            assert item.evidence_key is not None  # selected by its prefix
            if item.status == ReviewStatus.CONFIRMED:
                kept = evidence_key(item.sha256)
                if blobs.exists(item.evidence_key):
                    if blobs.exists(kept):  # the same media is already evidence (another sighting matched)
                        blobs.delete(item.evidence_key)
                    else:
                        blobs.move(item.evidence_key, kept)
                item.evidence_key = kept
                set_evidence_key(s, item.sha256, kept)
                log.info("review.triage_kept_as_evidence", item=item.id, sha256=item.sha256)
            else:
                blobs.delete(item.evidence_key)
                item.evidence_key = None
                log.info("review.triage_media_deleted", item=item.id, sha256=item.sha256, status=item.status)
            done.append(item.id)
    return done


def expire(store: Store, blobs: BlobStore, retention_days: float, now: datetime) -> list[int]:
    """Delete the media of triage items nobody assessed within ``retention_days`` and close them as expired.

    Each expiry is recorded as an automatic decision row (:data:`RETENTION_RULE`), the item's audit
    record, and logged.

    Returns:
        The ids of the items closed.

    """
    cutoff = now - timedelta(days=retention_days)
    closed: list[int] = []
    with store.session() as s:
        items = s.scalars(select(ReviewItem).where(ReviewItem.kind == ReviewKind.TRIAGE,
                                                   ReviewItem.status.in_(_OPEN),
                                                   ReviewItem.created_at < cutoff).with_for_update()).all()
        for item in items:
            if item.evidence_key is not None:
                blobs.delete(item.evidence_key)
            s.add(ReviewDecisionRow(review_item_id=item.id, analyst=RETENTION_RULE, classification=EXPIRED_KEY,
                                    automatic=True, decided_at=now,
                                    reason=f"not assessed within {retention_days:g} days: media deleted"))
            item.status, item.evidence_key, item.decided_at = ReviewStatus.EXPIRED, None, now
            item.decided_by, item.claimed_by, item.claimed_until = RETENTION_RULE, None, None
            closed.append(item.id)
            log.info("review.triage_expired", item=item.id, sha256=item.sha256, created_at=item.created_at.isoformat())
    return closed


@dataclass(frozen=True, slots=True)
class MediaAssessment:
    """Where analysts stand on one piece of media (a review item of either kind)."""

    sha256: str
    kind: ReviewKind
    status: ReviewStatus
    classification: str | None

    @property
    def assessed(self) -> bool:
        """Settled (by analysts or a rule) or expired: nobody will look at it again."""
        return self.status not in _OPEN

    @property
    def actionable(self) -> bool:
        """Settled as material that gets notices."""
        return self.status == ReviewStatus.CONFIRMED


def assessed(session: Session, sha256s: Collection[str]) -> dict[str, MediaAssessment]:
    """The review state of each of ``sha256s`` that has a review item; media without one is absent.

    Media of a reported page without a review item matched nothing and was not kept (it was not
    fetched for the report), or has not reached review yet.
    """
    if not sha256s:
        return {}
    rows = session.execute(select(ReviewItem.sha256, ReviewItem.kind, ReviewItem.status, ReviewItem.classification)
                           .where(ReviewItem.sha256.in_(list(sha256s))))
    return {sha: MediaAssessment(sha, ReviewKind(kind), ReviewStatus(status), classification)
            for sha, kind, status, classification in rows}


def assessed_on_pages(session: Session, page_urls: Sequence[str]) -> dict[str, dict[str, MediaAssessment | None]]:
    """For each page, its hashed media by SHA-256 and where analysts stand on each ({} while none is hashed).

    None marks media without a review item: for a page fetched for a report (every unmatched item
    goes to triage) that media is still on its way to review.
    """
    media = sightings.media_on_pages(session, page_urls)
    states = assessed(session, set().union(*media.values()) if media else set())
    return {url: {sha: states.get(sha) for sha in sorted(media.get(url, ()))} for url in page_urls}

"""Review stage handler: MatchCandidate in; review items in the store; decisions out.

A match within the strict distance of a classified known entry is confirmed automatically;
the rest wait in the review queue for analysts. A candidate without hits (a reported page's
unmatched media) becomes a triage item (:mod:`review.triage`). Media already classified (same SHA-256, or PDQ
within the strict distance of a classified item) is never queued again: it inherits the
classification; media near an allow-listed image is settled as not CSAM.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from prometheus_client import Counter
from sqlalchemy import select

from core.blobs import BlobStore
from core.bus import Bus
from core.errors import MissingExtraError, PermanentError
from core.geo import GeoLookup
from core.messages import (
    Classification,
    FetchOrigin,
    MatchCandidate,
    MatchDecision,
    MatchHit,
    Message,
    Topic,
    utcnow,
)
from core.stages import PeriodicJob, Stage, StageName, StageRuntime, StageSpec
from core.store import Store, insert_ignore
from core.store.tables.review import ReviewItem, ReviewKind, ReviewStatus
from hashing import registry
from review import triage
from review.orgs import route_item, routes_by_country
from review.service import SETTLED, announce, record_settlement
from review.settings import ReviewSettings
from review.workflow import OPEN, ReviewWorkflow, SameMedia, inherit

log = structlog.get_logger(__name__)

REVIEWED = Counter("orbweaver_review_candidates_total", "Match candidates handled by review", ["result"])



def priority(hit: MatchHit) -> float:
    """Higher for closer matches: 1.0 for an exact hit, falling with relative distance."""
    algorithm = registry.find(hit.algorithm)
    bits = algorithm.bits if algorithm is not None else 256
    return round(1.0 - hit.distance / bits, 4)


class ReviewStage(Stage):
    """Consumes ``match.candidates`` in group ``review``.

    Args:
        bus: The bus.
        store: The shared store.
        settings: The ``[review]`` settings.
        blobs: Where triage media waits; without it, triage media is left for a stage that has one.
        clock: Stamps new triage items (their retention runs from it) and drives the triage sweep.
        country_of: The hosting country of an address (tests inject one); default: offline GeoIP data.

    """

    def __init__(self, bus: Bus, store: Store, settings: ReviewSettings, blobs: BlobStore | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 country_of: Callable[[str], str | None] | None = None) -> None:
        self.bus = bus
        self.store = store
        self.settings = settings
        self.blobs = blobs
        self.clock = clock
        self.country_of = country_of or geo_country

    def hosting_country(self, ip: str | None) -> str | None:
        """The country the crawler's resolved IP lies in (offline data); None when unknown."""
        if not ip:
            return None
        try:
            return self.country_of(ip)
        except MissingExtraError:
            log.warning("review.no_geoip", hint="items stay with the operator's organisation")
            return None

    def periodic(self) -> list[PeriodicJob]:
        """Review's sweep, every ``sweep_every_s``, so a lost announcement goes out without waiting for an analyst.

        With a blob store, the triage sweep runs as often: expired triage media is deleted.
        """
        workflow = ReviewWorkflow(self.store, self.bus, self.settings, self.clock, blobs=self.blobs)
        jobs = [PeriodicJob("review.sweep", self.settings.sweep_every_s, workflow.sweep)]
        if self.blobs is not None:
            jobs.append(PeriodicJob("review.triage_sweep", self.settings.sweep_every_s, workflow.triage_sweep))
        return jobs

    def auto_rule(self, candidate: MatchCandidate) -> MatchHit | None:
        """The hit that confirms this candidate without an analyst, if any.

        Only a confident ``match`` of the matcher's fused decision (``matcher.decision``)
        confirms automatically, by the hit that decided it (listed first), and only when that
        entry carries an actionable classification; every ``review`` waits for analysts.
        """
        if not self.settings.auto_confirm or candidate.decision is not MatchDecision.MATCH or not candidate.hits:
            return None
        hit = candidate.hits[0]
        if not hit.classification or Classification(hit.classification) is Classification.NOT_CSAM:
            return None
        return hit

    def handle(self, message: Message) -> None:
        """Queue or confirm one match candidate; queue a reported page's unmatched media for triage."""
        if not isinstance(message, MatchCandidate):
            raise PermanentError(f"review stage cannot handle {message.schema_name}")
        if not message.hits and message.ref.origin is not FetchOrigin.REPORT:
            raise PermanentError("match candidate without hits (only a reported page's media comes without)")
        best = message.hits[0] if message.hits else None
        stale: str | None = None  # a triage body this candidate brought that no item holds
        with self.store.session() as s:
            # An item is routed once, when created; a later sighting elsewhere moves it only by a forward.
            new = s.scalar(select(ReviewItem.id).where(ReviewItem.sha256 == message.sha256)) is None
            country = self.hosting_country(message.ref.resolved_ip) if new and routes_by_country(s) else None
            insert_ignore(
                s,
                ReviewItem,
                {
                    "sha256": message.sha256,
                    "status": ReviewStatus.PENDING,
                    "kind": ReviewKind.MATCH if best is not None else ReviewKind.TRIAGE,
                    "priority": priority(best) if best is not None else triage.TRIAGE_PRIORITY,
                    "best_algorithm": best.algorithm if best is not None else "",
                    "best_distance": best.distance if best is not None else 0,
                    "best_entry_id": best.entry_id if best is not None else None,
                    "evidence_key": message.evidence_key,
                    "campaign_id": message.ref.campaign_id,
                    "created_at": self.clock(),
                    "org_id": route_item(s, country),
                },
                ["sha256"],
            )
            item = s.scalars(select(ReviewItem).where(ReviewItem.sha256 == message.sha256)).one()
            if best is None:
                if item.status == ReviewStatus.EXPIRED:  # reported again after its retention ran out: triage anew
                    item.status, item.evidence_key = ReviewStatus.PENDING, message.evidence_key
                    item.created_at = self.clock()
                if message.evidence_key != item.evidence_key:
                    stale = message.evidence_key
            converted = best is not None and item.status in OPEN and item.kind == ReviewKind.TRIAGE
            if converted:
                # Media waiting in triage now matches a list (one the analysts' classifications feed, say).
                stale = item.evidence_key
                item.kind, item.evidence_key = ReviewKind.MATCH, message.evidence_key
            if best is not None and item.status == "pending" and (converted or best.distance < item.best_distance):
                item.best_algorithm, item.best_distance = best.algorithm, best.distance
                item.best_entry_id, item.priority = best.entry_id, priority(best)
            # Media analysts already decided (allow-listed, or near a classified item) is never queued.
            if item.status in OPEN:
                pdq = next((h.value for h in message.hashes if h.algorithm == "pdq"), None)
                inherit(s, item, pdq, SameMedia(s, self.settings.same_media_distance))
            rule = self.auto_rule(message) if item.status == "pending" else None
            if rule is not None:
                assert rule.classification is not None
                record_settlement(
                    s,
                    item,
                    Classification(rule.classification),
                    decided_by=f"auto:match:{rule.algorithm}",
                    automatic=True,
                    reason=f"{rule.algorithm} distance {rule.distance} to {rule.hash_set} entry {rule.entry_id}",
                )
            item_id, status, kind = item.id, item.status, item.kind
        if self.blobs is not None:
            if stale is not None and stale.startswith(triage.TRIAGE_PREFIX):
                self.blobs.delete(stale)
            if status in SETTLED:  # before the announcement: its notice requests name the evidence
                triage.settle_media(self.store, self.blobs, [item_id])
        if status in SETTLED:
            sent = announce(self.store, self.bus, item_id, new_ref=message.ref)
            REVIEWED.labels("auto_confirmed" if rule is not None else "inherited").inc()
            log.info("review.settled", sha256=message.sha256, item=item_id, status=status, notice_requests=sent)
        else:
            REVIEWED.labels("triage" if kind == ReviewKind.TRIAGE else "queued").inc()
            log.info("review.queued", sha256=message.sha256, item=item_id, kind=kind,
                     distance=best.distance if best is not None else None)


def geo_country(ip: str) -> str | None:
    """The country of ``ip`` from geoip2fast's bundled data (the notifier's hosting lookup reads the same)."""
    return GeoLookup().lookup(ip).country


def build(rt: StageRuntime) -> ReviewStage:
    """The review stage over the runtime's infrastructure and its ``[review]`` settings."""
    return ReviewStage(rt.bus, rt.store, rt.section(ReviewSettings), rt.blobs)


SPEC = StageSpec(StageName.REVIEW, (Topic.MATCH_CANDIDATES,), build)
"""Review marks a settlement announced after its flush returns, so its flushes stay real (no defer_flush)."""

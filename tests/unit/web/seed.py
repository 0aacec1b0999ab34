"""Review items made of generated benign images, as the matcher would hand them to review.

Images come from orbweaver.demo.imagegen (seeded gradients and shapes). A "known list" entry is
the image's own PDQ with some bits flipped, so each candidate sits at a chosen distance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from core.blobs import BlobStore, evidence_key, triage_key
from core.bus import Bus
from core.messages import (
    FetchOrigin,
    HashValue,
    MatchCandidate,
    MatchDecision,
    MatchHit,
    MediaRef,
    Topic,
    new_id,
    sha256_hex,
)
from core.store import Store, insert_ignore
from core.store.tables.crawler import Sighting
from core.store.tables.hashing import Media
from core.store.tables.matcher import HashEntry, Match
from core.store.tables.notifier import NoticeItem
from core.store.tables.review import ReviewItem
from hashing.hasher import HashOutcome, compute_hashes
from matcher.decision import decide_with
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from matcher.settings import MatcherSettings
from notifier.stage import NotifierStage
from orbweaver.demo.imagegen import encode, generate
from review.stage import ReviewStage
from review.workflow import ReviewWorkflow

SIZE = (400, 300)


def image(seed: int, quality: int = 90) -> bytes:
    """A generated benign JPEG (400x300); another quality gives a near-duplicate with a new SHA-256."""
    return encode(generate(20_000 + seed, SIZE), quality=quality)


def flip_bits(hex_value: str, n: int) -> str:
    value = int(hex_value, 16)
    for bit in range(n):
        value ^= 1 << (bit * 7 % 256)
    return f"{value:064x}"


@dataclass(frozen=True)
class Seeded:
    item_id: int
    sha256: str
    pdq: str
    body: bytes
    media_url: str


def seed_candidate(
    store: Store,
    blobs: BlobStore,
    stage: ReviewStage,
    body: bytes,
    *,
    media_url: str,
    page_url: str = "http://pages.test/gallery",
    label: str = "known entry",
    distance: int = 28,
    campaign_id: str = "c1",
    list_name: str = "known",
    when: datetime | None = None,
) -> Seeded:
    """Store media, a sighting, a known entry and a match, then hand the candidate to the review stage."""
    when = when or datetime(2026, 1, 1, tzinfo=UTC)
    outcome = compute_hashes(body)
    hashes: list[HashValue] = outcome.hashes
    # The media row keeps the plain hashes, as the hashing stage does; variants only travel as queries.
    by = {h.algorithm: h for h in outcome.plain}
    sha, pdq = sha256_hex(body), by["pdq"].value
    key = evidence_key(sha)
    blobs.put(key, body)
    entry_value = flip_bits(pdq, distance)
    import_entries(store, list_name, [ListEntry(value=entry_value, algorithm="pdq", label=label,
                                                classification="baseline_csam")], source="test")
    ref = _store_media(store, body, outcome, key, page_url=page_url, media_url=media_url, campaign_id=campaign_id,
                       when=when)
    with store.session() as s:
        entry_id = s.scalar(select(HashEntry.id).where(HashEntry.value == entry_value))
        assert entry_id is not None
        insert_ignore(s, Match, {"sha256": sha, "hash_entry_id": entry_id, "algorithm": "pdq",
                                 "distance": distance}, ["sha256", "hash_entry_id", "algorithm"])
    hits = [MatchHit(algorithm="pdq", distance=distance, hash_set=list_name, entry_id=entry_id, entry_label=label,
                     classification="baseline_csam", query_hash=pdq)]
    # The matcher's own decision rule, so that auto-confirmation follows the default thresholds.
    verdict = decide_with(hits, MatcherSettings())
    stage.handle(MatchCandidate(ref=ref, sha256=sha, hashes=hashes, evidence_key=key, hits=hits,
                                decision=str(verdict.decision)))
    with store.session() as s:
        item_id = s.scalar(select(ReviewItem.id).where(ReviewItem.sha256 == sha))
        assert item_id is not None
    return Seeded(item_id=item_id, sha256=sha, pdq=pdq, body=body, media_url=media_url)


def _store_media(store: Store, body: bytes, outcome: HashOutcome, key: str | None, *, page_url: str, media_url: str,
                 campaign_id: str, when: datetime, origin: FetchOrigin = FetchOrigin.CAMPAIGN) -> MediaRef:
    """The media row and one sighting, as the hashing stage records them; the sighting's reference."""
    by = {h.algorithm: h for h in outcome.plain}
    sha = sha256_hex(body)
    with store.session() as s:
        insert_ignore(s, Media, {"sha256": sha, "size": len(body), "content_type": "image/jpeg",
                                 "md5": by["md5"].value, "sha1": by["sha1"].value, "pdq": by["pdq"].value,
                                 "pdq_quality": by["pdq"].quality, "phash": by["phash"].value,
                                 "hashes": [h.model_dump() for h in outcome.plain], "evidence_key": key}, ["sha256"])
        s.add(Sighting(message_id=new_id(), campaign_id=campaign_id, sha256=sha, page_url=page_url,
                       media_url=media_url, final_url=media_url, http_status=200, content_type="image/jpeg",
                       resolved_ip="198.51.100.7", size=len(body), fetched_at=when))
    return MediaRef(campaign_id=campaign_id, page_url=page_url, media_url=media_url, final_url=media_url,
                    resolved_ip="198.51.100.7", fetched_at=when, origin=origin)


def seed_triage(store: Store, blobs: BlobStore, stage: ReviewStage, body: bytes, *, media_url: str,
                page_url: str = "http://reported.test/page", campaign_id: str = "reports",
                when: datetime | None = None) -> Seeded:
    """A reported page's media that matched nothing, as the matcher hands it to review: kept under ``triage/``."""
    outcome = compute_hashes(body)
    sha, key = sha256_hex(body), triage_key(sha256_hex(body))
    blobs.put(key, body)
    ref = _store_media(store, body, outcome, None, page_url=page_url, media_url=media_url, campaign_id=campaign_id,
                       when=when or datetime(2026, 1, 1, tzinfo=UTC), origin=FetchOrigin.REPORT)
    stage.handle(MatchCandidate(ref=ref, sha256=sha, hashes=outcome.hashes, evidence_key=key, hits=[],
                                decision=MatchDecision.NONE))
    with store.session() as s:
        item_id = s.scalar(select(ReviewItem.id).where(ReviewItem.sha256 == sha))
        assert item_id is not None
    pdq = next(h.value for h in outcome.plain if h.algorithm == "pdq")
    return Seeded(item_id=item_id, sha256=sha, pdq=pdq, body=body, media_url=media_url)


def confirm_and_notice(store: Store, blobs: BlobStore, bus: Bus, stage: ReviewStage, workflow: ReviewWorkflow,
                       notifier: NotifierStage, body: bytes, *, media_url: str, page_url: str) -> int:
    """Match ``body`` at ``media_url``, let two analysts confirm it, hand the notifier its request: the notice item."""
    seeded = seed_candidate(store, blobs, stage, body, media_url=media_url, page_url=page_url)
    workflow.decide(seeded.item_id, "alice", "baseline_csam", senior=False)
    workflow.decide(seeded.item_id, "bob", "baseline_csam", senior=False)
    waiting = bus.lag(Topic.NOTICE_REQUESTS, "notifier")
    assert waiting >= 1
    bus.consume(Topic.NOTICE_REQUESTS, "notifier", notifier.handle, max_messages=waiting, poll_timeout_s=0.05)
    with store.session() as s:
        item_id = s.scalar(select(NoticeItem.id).where(NoticeItem.media_url == media_url))
        assert item_id is not None
        return item_id


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found is not None, "page has no CSRF field"
    return found.group(1)

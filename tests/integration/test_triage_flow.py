"""Issue 16 "reports become work", in process: a reported page's unmatched media through triage onto the local list.

The hashing, matching and review stages run over one embedded bus, SQLite store and blob folder;
the crawler's part is the messages it publishes (a report's fetch carries ``origin=report``). The
images are generated and benign (orbweaver.demo.imagegen via tests.unit.web.seed.image).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.blobs import LocalBlobStore, evidence_key, staging_key, triage_key
from core.bus.embedded import EmbeddedBus
from core.messages import (
    FetchedMedia,
    FetchOrigin,
    HashSetChange,
    MatchCandidate,
    MediaRef,
    NoticeRequest,
    Topic,
    new_id,
    sha256_hex,
)
from core.store import Store
from core.store.tables.review import ReviewItem, ReviewKind
from hashing.hasher import compute_hashes
from hashing.settings import HashingSettings
from hashing.stage import HashingStage
from matcher.engine import Matcher
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from matcher.settings import MatcherSettings
from matcher.stage import MatchingStage
from review.settings import ReviewSettings
from review.stage import ReviewStage
from review.workflow import ReviewWorkflow
from tests.fixtures.clock import FakeClock
from tests.fixtures.drain import drain
from tests.unit.web.seed import image

pytestmark = pytest.mark.integration

KNOWN, NEW, OTHER = image(161), image(162), image(163)
COPY = image(162, quality=75)
"""The newly classified image re-encoded: another SHA-256, a near PDQ."""
REPORTED_PAGE = "http://reported.test/thread/1"
LATER_PAGE = "http://elsewhere.test/gallery"


def fetched(body: bytes, page_url: str, name: str, origin: FetchOrigin, when: datetime) -> FetchedMedia:
    """What the crawler publishes for one fetched image (its body inline)."""
    url = f"{page_url.rsplit('/', 1)[0]}/{name}.jpg"
    return FetchedMedia(message_id=new_id(), http_status=200, content_type="image/jpeg", size=len(body),
                        sha256=sha256_hex(body), body=body,
                        ref=MediaRef(campaign_id=str(origin), page_url=page_url, media_url=url, final_url=url,
                                     resolved_ip="198.51.100.9", fetched_at=when, origin=origin))


def test_a_reported_page_s_unmatched_image_is_triaged_classified_and_then_found_elsewhere(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    bus = EmbeddedBus(tmp_path / "bus.db")
    blobs = LocalBlobStore(tmp_path / "blobs")
    clock = FakeClock()
    settings = ReviewSettings(required_assessments=1, local_hash_list="local")
    import_entries(store, "known", [ListEntry(value=h.value, algorithm="pdq", label="known-161",
                                              classification="baseline_csam")
                                    for h in compute_hashes(KNOWN).plain if h.algorithm == "pdq"], source="test")
    hashing = HashingStage(bus, store, blobs, HashingSettings())
    matching = MatchingStage(bus, store, blobs, Matcher(store, MatcherSettings()), replica_id="t")
    review = ReviewStage(bus, store, settings, blobs, clock=clock)

    def run(*fetches: FetchedMedia) -> tuple[list[MatchCandidate], list[NoticeRequest]]:
        for message in fetches:
            bus.publish(message)
        bus.flush()
        drain(bus, Topic.MEDIA_FETCHED, "hashing", hashing.handle)
        drain(bus, Topic.MEDIA_HASHED, "matcher", matching.handle)
        found = drain(bus, Topic.MATCH_CANDIDATES, "review", review.handle)
        return ([m for m in found if isinstance(m, MatchCandidate)],
                [m for m in drain(bus, Topic.NOTICE_REQUESTS, "notifier", lambda m: None)
                 if isinstance(m, NoticeRequest)])

    # A report's fetch: the known image is matched and noticed, the other waits in triage.
    when = clock()
    candidates, notices = run(fetched(KNOWN, REPORTED_PAGE, "a", FetchOrigin.REPORT, when),
                              fetched(NEW, REPORTED_PAGE, "b", FetchOrigin.REPORT, when))
    assert sorted(len(c.hits) for c in candidates) == [0, 1]
    assert [n.sha256 for n in notices] == [sha256_hex(KNOWN)]
    with store.session() as s:
        items = {i.sha256: (i.kind, i.status) for i in s.scalars(select(ReviewItem))}
    assert items == {sha256_hex(KNOWN): (ReviewKind.MATCH, "confirmed"),
                     sha256_hex(NEW): (ReviewKind.TRIAGE, "pending")}
    assert blobs.get(triage_key(sha256_hex(NEW))) == NEW

    # An analyst classifies it: the media becomes evidence, a notice goes out, the local list grows.
    flow = ReviewWorkflow(store, bus, settings, clock, blobs=blobs)
    [entry] = flow.queue("alice", senior=False, kind=ReviewKind.TRIAGE)
    done = flow.decide(entry.item_id, "alice", "baseline_csam", senior=False)
    assert done.notice_requests == 1
    [notice] = drain(bus, Topic.NOTICE_REQUESTS, "notifier", lambda m: None)
    assert isinstance(notice, NoticeRequest) and notice.ref.page_url == REPORTED_PAGE
    assert notice.sha256 == sha256_hex(NEW) and notice.evidence_key == evidence_key(sha256_hex(NEW))
    assert blobs.get(evidence_key(sha256_hex(NEW))) == NEW and not blobs.exists(triage_key(sha256_hex(NEW)))
    changes = drain(bus, Topic.HASHSET_CHANGES, "matcher-t", lambda m: None)
    for change in changes:
        assert isinstance(change, HashSetChange)
        matching.matcher.apply_change(change)

    # A later campaign crawl: the re-encoded copy on another page is matched by the local list and
    # noticed; an unrelated image matches nothing and is dropped, bytes and all.
    clock.advance(days=3)
    later = [fetched(COPY, LATER_PAGE, "copy", FetchOrigin.CAMPAIGN, clock()),
             fetched(OTHER, LATER_PAGE, "other", FetchOrigin.CAMPAIGN, clock())]
    candidates, notices = run(*later)
    [candidate] = candidates
    assert candidate.sha256 == sha256_hex(COPY) != sha256_hex(NEW)
    assert {h.hash_set for h in candidate.hits} == {"local"}
    assert [(n.sha256, n.ref.page_url) for n in notices] == [(sha256_hex(COPY), LATER_PAGE)]
    with store.session() as s:
        assert s.scalar(select(ReviewItem.id).where(ReviewItem.sha256 == sha256_hex(OTHER))) is None
    assert not any(blobs.exists(k) for m in later
                   for k in (staging_key(m.message_id), triage_key(sha256_hex(OTHER)), evidence_key(sha256_hex(OTHER))))
    bus.close()
    store.dispose()

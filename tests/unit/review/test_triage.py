"""Triage of a reported page's unmatched media: its own queue tab, settlement, the local list, retention."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.blobs import LocalBlobStore, evidence_key, triage_key
from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError
from core.messages import HashValue, MatchCandidate, MatchDecision, MediaRef, NoticeRequest, Topic, decode
from core.store import Store
from core.store.tables.matcher import HashEntry
from core.store.tables.review import ReviewDecisionRow, ReviewItem, ReviewKind, ReviewStatus
from review import triage
from review.settings import ReviewSettings
from review.stage import ReviewStage
from review.workflow import ReviewWorkflow
from tests.fixtures.clock import FakeClock
from tests.unit.web.seed import Seeded, image, seed_candidate, seed_triage

PAGE = "http://reported.test/page"


class Parts:
    """A store, bus and blob folder; a review stage and workflow over them on one fake clock."""

    def __init__(self, tmp_path: Path, settings: ReviewSettings) -> None:
        self.store = Store(f"sqlite:///{tmp_path / 's.db'}")
        self.store.migrate()
        self.bus = EmbeddedBus(tmp_path / "bus.db")
        self.blobs = LocalBlobStore(tmp_path / "blobs")
        self.clock = FakeClock()
        self.stage = ReviewStage(self.bus, self.store, settings, self.blobs, clock=self.clock)
        self.flow = ReviewWorkflow(self.store, self.bus, settings, self.clock, blobs=self.blobs)

    def reported(self, n: int) -> Seeded:
        return seed_triage(self.store, self.blobs, self.stage, image(n), media_url=f"http://img.test/{n}.jpg",
                           page_url=PAGE)

    def item(self, item_id: int) -> ReviewItem:
        with self.store.session() as s:
            item = s.get(ReviewItem, item_id)
            assert item is not None
            s.expunge(item)
            return item


@pytest.fixture
def parts(tmp_path: Path) -> Parts:
    return Parts(tmp_path, ReviewSettings(required_assessments=1, local_hash_list="local"))


def test_a_reported_item_waits_in_the_triage_tab_only(parts: Parts) -> None:
    t = parts.reported(1)
    m = seed_candidate(parts.store, parts.blobs, parts.stage, image(2), media_url="http://img.test/2.jpg")
    assert parts.item(t.item_id).kind == ReviewKind.TRIAGE and parts.item(t.item_id).status == ReviewStatus.PENDING
    assert [e.item_id for e in parts.flow.queue("a", senior=False, kind=ReviewKind.TRIAGE)] == [t.item_id]
    assert [e.item_id for e in parts.flow.queue("a", senior=False, kind=ReviewKind.MATCH)] == [m.item_id]
    assert {e.item_id for e in parts.flow.queue("a", senior=False)} == {t.item_id, m.item_id}
    assert parts.blobs.exists(triage_key(t.sha256))


def test_only_a_reported_page_s_media_may_come_without_hits(parts: Parts) -> None:
    ref = MediaRef(campaign_id="c", page_url=PAGE, media_url="http://img.test/x.jpg",
                   final_url="http://img.test/x.jpg", fetched_at=parts.clock())
    with pytest.raises(PermanentError, match="without hits"):
        parts.stage.handle(MatchCandidate(ref=ref, sha256="ab" * 32, hits=[], decision=MatchDecision.NONE,
                                          hashes=[HashValue(algorithm="pdq", value="0" * 64)]))


def test_classified_as_abuse_it_becomes_evidence_is_noticed_and_joins_the_local_list(parts: Parts) -> None:
    t = parts.reported(1)
    done = parts.flow.decide(t.item_id, "alice", "baseline_csam", senior=False)
    assert (done.classification, done.notice_requests) == ("baseline_csam", 1)
    item = parts.item(t.item_id)
    assert item.evidence_key == evidence_key(t.sha256)
    assert parts.blobs.get(evidence_key(t.sha256)) == t.body and not parts.blobs.exists(triage_key(t.sha256))
    [request] = [m for m in map(decode, parts.bus.read_topic(str(Topic.NOTICE_REQUESTS)))
                 if isinstance(m, NoticeRequest)]
    assert request.evidence_key == evidence_key(t.sha256) and request.ref.page_url == PAGE
    with parts.store.session() as s:
        listed = set(s.scalars(select(HashEntry.value)))
    assert {t.sha256, t.pdq} <= listed
    assert parts.flow.queue("bob", senior=False) == [] and not parts.flow.may_assess(t.item_id, "bob", senior=False)
    with parts.store.session() as s:
        assert triage.assessed(s, [t.sha256])[t.sha256].actionable


def test_not_actionable_media_is_deleted_at_once(parts: Parts) -> None:
    t = parts.reported(1)
    parts.flow.decide(t.item_id, "alice", "not_csam", senior=False)
    item = parts.item(t.item_id)
    assert (item.status, item.evidence_key) == (ReviewStatus.REJECTED, None)
    assert not parts.blobs.exists(triage_key(t.sha256)) and not parts.blobs.exists(evidence_key(t.sha256))
    assert parts.bus.read_topic(str(Topic.NOTICE_REQUESTS)) == []


def test_unassessed_media_is_deleted_after_the_retention_period(parts: Parts) -> None:
    old = parts.reported(1)
    parts.clock.advance(days=20)
    fresh = parts.reported(2)
    parts.clock.advance(days=9, hours=23)
    assert parts.flow.triage_sweep() == []
    parts.clock.advance(hours=2)  # 30 days and an hour after the first report
    assert parts.flow.triage_sweep() == [old.item_id]
    item = parts.item(old.item_id)
    assert (item.status, item.evidence_key) == (ReviewStatus.EXPIRED, None)
    assert not parts.blobs.exists(triage_key(old.sha256)) and parts.blobs.exists(triage_key(fresh.sha256))
    with parts.store.session() as s:
        [row] = s.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.review_item_id == old.item_id))
        assert (row.analyst, row.automatic) == (triage.RETENTION_RULE, True)
        assert "30 days" in (row.reason or "")
        states = triage.assessed_on_pages(s, [PAGE, "http://never.test/"])
    assert [e.item_id for e in parts.flow.queue("a", senior=False)] == [fresh.item_id]
    assert {sha: (a.assessed if a else None) for sha, a in states[PAGE].items()} == {old.sha256: True,
                                                                                      fresh.sha256: False}
    assert states["http://never.test/"] == {}
    # The stage runs the sweep on its schedule.
    assert "review.triage_sweep" in {job.name for job in parts.stage.periodic()}


def test_retention_days_default_to_30_and_the_environment_overrides_them() -> None:
    from core.settings import load
    from orbweaver.settings import Settings

    assert ReviewSettings().triage_retention_days == 30
    loaded = load(Settings, environ={"ORBWEAVER_REVIEW__TRIAGE_RETENTION_DAYS": "7"})
    assert loaded.review.triage_retention_days == 7


def test_triage_media_that_later_matches_a_list_becomes_a_match_item(parts: Parts) -> None:
    t = parts.reported(1)
    m = seed_candidate(parts.store, parts.blobs, parts.stage, image(1), media_url="http://img.test/1b.jpg")
    assert m.item_id == t.item_id
    item = parts.item(t.item_id)
    assert (item.kind, item.evidence_key, item.best_distance) == (ReviewKind.MATCH, evidence_key(t.sha256), 28)
    assert not parts.blobs.exists(triage_key(t.sha256)) and parts.blobs.exists(evidence_key(t.sha256))


def test_media_reported_again_after_it_expired_is_triaged_anew(parts: Parts) -> None:
    t = parts.reported(1)
    parts.clock.advance(days=31)
    assert parts.flow.triage_sweep() == [t.item_id]
    assert parts.reported(1).item_id == t.item_id
    item = parts.item(t.item_id)
    assert (item.status, item.evidence_key, item.created_at) == (ReviewStatus.PENDING, triage_key(t.sha256),
                                                                 parts.clock())
    assert parts.blobs.exists(triage_key(t.sha256))

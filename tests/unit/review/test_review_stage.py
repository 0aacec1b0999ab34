from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError
from core.messages import (
    Classification,
    HashValue,
    MatchCandidate,
    MatchDecision,
    MatchHit,
    MediaRef,
    NoticeRequest,
    ReviewDecision,
    Topic,
    decode,
)
from core.store import Store
from core.store.tables.crawler import Sighting
from core.store.tables.review import ReviewDecisionRow, ReviewItem
from review.settings import ReviewSettings
from review.stage import ReviewStage

SHA = "ab" * 32


@pytest.fixture
def env(tmp_path: Path) -> tuple[EmbeddedBus, Store]:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    return EmbeddedBus(tmp_path / "bus.db"), store


def ref(url: str, when: int = 0) -> MediaRef:
    return MediaRef(
        campaign_id="c", page_url="http://h.test/p", media_url=url, final_url=url,
        resolved_ip="203.0.113.5", fetched_at=datetime(2026, 1, 1, 0, when, tzinfo=UTC),
    )


def sighting(store: Store, r: MediaRef, message_id: str) -> None:
    with store.session() as s:
        s.add(Sighting(message_id=message_id, campaign_id="c", sha256=SHA, page_url=r.page_url,
                       media_url=r.media_url, final_url=r.final_url, resolved_ip=r.resolved_ip,
                       fetched_at=r.fetched_at))


def candidate(
    r: MediaRef, distance: int, classification: str | None = "baseline_csam", algo: str = "pdq",
    decision: str | None = None,
) -> MatchCandidate:
    """A candidate as the matcher sends it; its decision follows the default PDQ thresholds unless given."""
    return MatchCandidate(
        ref=r, sha256=SHA, hashes=[HashValue(algorithm=algo, value="0" * 64)], evidence_key=f"evidence/ab/{SHA}",
        hits=[MatchHit(algorithm=algo, distance=distance, hash_set="known", entry_id=1, entry_label="k1",
                       classification=classification, query_hash="0" * 64)],
        decision=decision or ("match" if distance <= 16 else "review"),
    )


def published(bus: EmbeddedBus, topic: Topic) -> list[object]:
    return [decode(p) for p in bus.read_topic(str(topic))]


def test_strict_match_is_confirmed_and_requests_notices(env: tuple[EmbeddedBus, Store]) -> None:
    bus, store = env
    r = ref("http://h.test/a.jpg")
    sighting(store, r, "m1")
    ReviewStage(bus, store, ReviewSettings()).handle(candidate(r, distance=4))
    with store.session() as s:
        item = s.scalars(select(ReviewItem)).one()
        assert (item.status, item.classification) == ("confirmed", "baseline_csam")
        assert item.announced_at is not None
        assert s.scalars(select(ReviewDecisionRow)).one().automatic
    decisions = published(bus, Topic.REVIEW_DECISIONS)
    requests = published(bus, Topic.NOTICE_REQUESTS)
    assert len(decisions) == 1 and isinstance(decisions[0], ReviewDecision)
    assert len(requests) == 1 and isinstance(requests[0], NoticeRequest)
    assert requests[0].ref.media_url == r.media_url
    assert requests[0].classification is Classification.BASELINE_CSAM


def test_distant_match_waits_for_analysts(env: tuple[EmbeddedBus, Store]) -> None:
    bus, store = env
    r = ref("http://h.test/a.jpg")
    sighting(store, r, "m1")
    ReviewStage(bus, store, ReviewSettings()).handle(candidate(r, distance=25))
    with store.session() as s:
        assert s.scalars(select(ReviewItem)).one().status == "pending"
    assert published(bus, Topic.NOTICE_REQUESTS) == []


def test_auto_confirmation_follows_the_matchers_decision(env: tuple[EmbeddedBus, Store]) -> None:
    bus, store = env
    r = ref("http://h.test/a.jpg")
    sighting(store, r, "m1")
    stage = ReviewStage(bus, store, ReviewSettings())
    stage.handle(candidate(r, distance=0, decision="review"))  # close, but the matcher was not confident
    with store.session() as s:
        assert s.scalars(select(ReviewItem)).one().status == "pending"
    stage.handle(candidate(r, distance=20, decision="match"))  # e.g. PDQ and pHash jointly close
    with store.session() as s:
        item = s.scalars(select(ReviewItem)).one()
        assert (item.status, item.decided_by) == ("confirmed", "auto:match:pdq")
    off = ReviewStage(bus, store, ReviewSettings(auto_confirm=False))
    other = MatchCandidate(**{**candidate(r, distance=0).model_dump(), "sha256": "cd" * 32})
    off.handle(other)
    with store.session() as s:
        assert s.scalars(select(ReviewItem.status).where(ReviewItem.sha256 == "cd" * 32)).one() == "pending"


def test_unclassified_entry_never_auto_confirms(env: tuple[EmbeddedBus, Store]) -> None:
    bus, store = env
    r = ref("http://h.test/a.jpg")
    ReviewStage(bus, store, ReviewSettings()).handle(candidate(r, distance=0, classification=None))
    with store.session() as s:
        assert s.scalars(select(ReviewItem)).one().status == "pending"


def test_redelivery_and_new_sightings_inherit_without_requeue(env: tuple[EmbeddedBus, Store]) -> None:
    bus, store = env
    stage = ReviewStage(bus, store, ReviewSettings())
    first, second = ref("http://h.test/a.jpg", 0), ref("http://other.test/b.jpg", 5)
    sighting(store, first, "m1")
    stage.handle(candidate(first, distance=2))
    stage.handle(candidate(first, distance=2))  # redelivered
    sighting(store, second, "m2")
    stage.handle(candidate(second, distance=30))  # far, but the media is already classified
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 1
        assert s.scalar(select(func.count()).select_from(ReviewDecisionRow)) == 1
    urls = sorted({m.ref.media_url for m in published(bus, Topic.NOTICE_REQUESTS)})  # type: ignore[attr-defined]
    assert urls == [first.media_url, second.media_url]


def test_crash_before_announce_is_repaired_by_redelivery(env: tuple[EmbeddedBus, Store]) -> None:
    bus, store = env
    r = ref("http://h.test/a.jpg")
    sighting(store, r, "m1")

    class DeadBus(EmbeddedBus):
        def publish(self, message: object) -> None:  # type: ignore[override]
            raise RuntimeError("killed before publishing")

    with pytest.raises(RuntimeError):
        ReviewStage(DeadBus(bus.path), store, ReviewSettings()).handle(candidate(r, distance=1))
    with store.session() as s:
        item = s.scalars(select(ReviewItem)).one()
        assert item.status == "confirmed" and item.announced_at is None
    ReviewStage(bus, store, ReviewSettings()).handle(candidate(r, distance=1))
    assert len(published(bus, Topic.NOTICE_REQUESTS)) == 1


def test_wrong_message_type_is_permanent(env: tuple[EmbeddedBus, Store]) -> None:
    bus, store = env
    with pytest.raises(PermanentError):
        ReviewStage(bus, store, ReviewSettings()).handle(
            ReviewDecision(review_item_id=1, sha256=SHA, classification=Classification.NOT_CSAM, decided_by="x")
        )


def test_the_matcher_decision_travels_as_an_enum_with_the_same_wire_strings() -> None:
    sent = candidate(ref("http://site.test/a.jpg"), distance=0, decision="match")
    assert sent.decision is MatchDecision.MATCH
    wire = json.loads(sent.model_dump_json())
    assert wire["decision"] == "match"
    assert MatchCandidate.model_validate(wire).decision is MatchDecision.MATCH
    with pytest.raises(ValidationError):
        MatchCandidate.model_validate({**wire, "decision": "maybe"})

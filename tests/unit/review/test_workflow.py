"""The analysts' workflow without the web app: independent assessments, escalation, refusals, the scheme."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.errors import TransientError
from core.messages import Classification, Topic, decode
from core.store import Store
from review.settings import ClassOption, ReviewSettings
from review.stage import ReviewStage
from review.workflow import DecisionOutcome, ReviewRefusedError, ReviewWorkflow, pdq_distance
from tests.unit.web.seed import Seeded, image, seed_candidate


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Store, EmbeddedBus, LocalBlobStore]:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    return store, EmbeddedBus(tmp_path / "bus.db"), LocalBlobStore(tmp_path / "blobs")


def item(parts: tuple[Store, EmbeddedBus, LocalBlobStore], n: int, settings: ReviewSettings) -> Seeded:
    store, bus, blobs = parts
    return seed_candidate(store, blobs, ReviewStage(bus, store, settings), image(n),
                          media_url=f"http://img.test/{n}.jpg")


def test_three_required_assessments_settle_only_when_all_agree(
    parts: tuple[Store, EmbeddedBus, LocalBlobStore],
) -> None:
    settings = ReviewSettings(required_assessments=3)
    store, bus, _ = parts
    flow = ReviewWorkflow(store, bus, settings)
    a, b = item(parts, 1, settings), item(parts, 2, settings)
    assert flow.decide(a.item_id, "x", "baseline_csam", senior=False).outcome is DecisionOutcome.RECORDED
    assert flow.decide(a.item_id, "y", "baseline_csam", senior=False).outcome is DecisionOutcome.RECORDED
    done = flow.decide(a.item_id, "z", "baseline_csam", senior=False)
    assert (done.outcome, done.classification, done.notice_requests) == (DecisionOutcome.SETTLED, "baseline_csam", 1)
    flow.decide(b.item_id, "x", "baseline_csam", senior=False)
    flow.decide(b.item_id, "y", "baseline_csam", senior=False)
    assert flow.decide(b.item_id, "z", "harmful_abusive", senior=False).outcome is DecisionOutcome.ESCALATED


def test_refusals(parts: tuple[Store, EmbeddedBus, LocalBlobStore]) -> None:
    settings = ReviewSettings()
    store, bus, _ = parts
    flow = ReviewWorkflow(store, bus, settings)
    a = item(parts, 1, settings)
    with pytest.raises(ReviewRefusedError, match="no review item"):
        flow.decide(9999, "x", "baseline_csam", senior=False)
    with pytest.raises(ReviewRefusedError, match="unknown classification"):
        flow.decide(a.item_id, "x", "purple", senior=False)
    flow.decide(a.item_id, "x", "baseline_csam", senior=False)
    with pytest.raises(ReviewRefusedError, match="already decided"):
        flow.decide(a.item_id, "x", "not_csam", senior=False)
    flow.decide(a.item_id, "y", "not_csam", senior=False)
    with pytest.raises(ReviewRefusedError, match="senior"):
        flow.decide(a.item_id, "z", "not_csam", senior=False)
    assert not flow.may_assess(a.item_id, "z", senior=False)
    assert flow.may_assess(a.item_id, "boss", senior=True)
    assert not flow.may_assess(a.item_id, "x", senior=True)  # a senior never settles their own disagreement
    flow.decide(a.item_id, "boss", "not_csam", senior=True)
    with pytest.raises(ReviewRefusedError, match="already settled"):
        flow.decide(a.item_id, "w", "not_csam", senior=True)
    labels = [(x.analyst, x.label) for x in flow.assessments(a.item_id)]
    assert labels == [("x", "Baseline CSAM (illegal everywhere)"), ("y", "Not CSAM (false positive)"),
                      ("boss", "Not CSAM (false positive)")]


def test_a_configured_scheme_maps_onto_pipeline_classes(parts: tuple[Store, EmbeddedBus, LocalBlobStore]) -> None:
    settings = ReviewSettings(required_assessments=1, scheme=[
        ClassOption(key="cat_a", label="Category A", classification=Classification.BASELINE_CSAM, shortcut="a"),
        ClassOption(key="benign", label="Benign", classification=Classification.NOT_CSAM, shortcut="z"),
    ])
    store, bus, _ = parts
    a = item(parts, 1, settings)
    done = ReviewWorkflow(store, bus, settings).decide(a.item_id, "x", "cat_a", senior=False)
    assert done.classification == "baseline_csam"
    assert ReviewWorkflow(store, bus, settings).assessments(a.item_id)[0].key == "cat_a"


@pytest.mark.parametrize(
    ("scheme", "reason"),
    [
        ([], "at least one"),
        ([{"key": "a", "label": "A", "classification": "not_csam", "shortcut": "1"},
          {"key": "a", "label": "B", "classification": "not_csam", "shortcut": "2"}], "keys must be unique"),
        ([{"key": "a", "label": "A", "classification": "not_csam", "shortcut": "1"},
          {"key": "b", "label": "B", "classification": "not_csam", "shortcut": "1"}], "shortcuts must be unique"),
        ([{"key": "a", "label": "A", "classification": "not_csam", "shortcut": "s"}], "belong to the review page"),
        ([{"key": "A B", "label": "A", "classification": "not_csam", "shortcut": "1"}], "lowercase"),
        ([{"key": "a", "label": "A", "classification": "weird", "shortcut": "1"}], "classification"),
    ],
)
def test_bad_schemes_are_rejected(scheme: list[dict[str, str]], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ReviewSettings.model_validate({"scheme": scheme})


def test_pdq_distance() -> None:
    assert pdq_distance("0" * 64, "0" * 63 + "f") == 4
    assert pdq_distance(None, "0" * 64) is None
    assert pdq_distance("zz", "00") is None
    assert pdq_distance("00", "0000") is None


def test_queue_settles_open_items_whose_media_was_classified_meanwhile(
    parts: tuple[Store, EmbeddedBus, LocalBlobStore],
) -> None:
    settings = ReviewSettings()
    store, bus, blobs = parts
    stage = ReviewStage(bus, store, settings)
    waiting = seed_candidate(store, blobs, stage, image(1), media_url="http://img.test/1.jpg", distance=28)
    flow = ReviewWorkflow(store, bus, settings)
    assert [e.item_id for e in flow.queue("x", senior=False)] == [waiting.item_id]
    # A near copy arrives within the automatic-confirmation distance: the stage confirms it...
    seed_candidate(store, blobs, stage, image(1, quality=55), media_url="http://img.test/copy.jpg", distance=4)
    # ...and the waiting item inherits that classification the next time anyone looks at the queue.
    assert flow.queue("x", senior=False) == []
    assert not flow.may_assess(waiting.item_id, "x", senior=False)
    decided_by = [a.analyst for a in flow.assessments(waiting.item_id)]
    assert len(decided_by) == 1 and decided_by[0].startswith("auto:same-media-as-item-")


def test_a_settlement_the_bus_lost_is_announced_by_the_next_queue_load(
    parts: tuple[Store, EmbeddedBus, LocalBlobStore],
) -> None:
    settings = ReviewSettings(required_assessments=1)
    store, bus, _ = parts
    a = item(parts, 1, settings)

    class DeadBus(EmbeddedBus):
        def publish(self, message: object) -> None:  # type: ignore[override]
            raise TransientError("broker unreachable")

    with pytest.raises(TransientError):
        ReviewWorkflow(store, DeadBus(bus.path), settings).decide(a.item_id, "x", "baseline_csam", senior=False)
    assert [decode(p) for p in bus.read_topic(str(Topic.NOTICE_REQUESTS))] == []
    ReviewWorkflow(store, bus, settings).queue("y", senior=False)
    requests = [decode(p) for p in bus.read_topic(str(Topic.NOTICE_REQUESTS))]
    assert [r.ref.media_url for r in requests] == [a.media_url]  # type: ignore[attr-defined]
    ReviewWorkflow(store, bus, settings).queue("y", senior=False)
    assert len(bus.read_topic(str(Topic.NOTICE_REQUESTS))) == 1  # announced once


def test_confirmed_media_joins_the_local_list_with_its_list_side_variants(
    parts: tuple[Store, EmbeddedBus, LocalBlobStore],
) -> None:
    from sqlalchemy import select

    from core.store.tables.matcher import HashEntry, HashSet

    settings = ReviewSettings(local_hash_list="confirmed", required_assessments=1)
    store, bus, blobs = parts
    seeded = item(parts, 1, settings)
    ReviewWorkflow(store, bus, settings, blobs=blobs).decide(seeded.item_id, "x", "baseline_csam", senior=False)
    with store.session() as s:
        rows = s.execute(select(HashEntry.algorithm, HashEntry.value, HashEntry.variant, HashEntry.parent_id,
                                HashEntry.id)
                         .join(HashSet).where(HashSet.name == "confirmed")).all()
    parent = next(r for r in rows if r.value == seeded.pdq)
    variants = [r for r in rows if r.variant]
    assert parent.variant == "" and len(variants) == 42
    assert {(r.algorithm, r.parent_id) for r in variants} == {("pdq", parent.id)}
    assert {r.variant for r in variants} >= {"crop-c05", "crop-tl10", "crop-br20"}

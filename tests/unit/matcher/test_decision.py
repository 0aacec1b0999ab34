"""The fused decision: exact, close, jointly close, review, none; thresholds from settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.messages import HashSetKind, MatchDecision, MatchHit
from matcher.decision import decide, decide_with
from matcher.settings import MatcherSettings, Thresholds

LIMITS = {"pdq": Thresholds(match=16, review=31), "phash": Thresholds(match=4, review=8)}


def hit(algorithm: str, distance: int, entry_id: int = 1, label: str | None = "item-1", hash_set: str = "known",
        variant: str = "", kind: HashSetKind = HashSetKind.KNOWN) -> MatchHit:
    return MatchHit(algorithm=algorithm, distance=distance, hash_set=hash_set, entry_id=entry_id, entry_label=label,
                    classification="baseline_csam", query_hash="00", variant=variant, list_kind=kind)


def test_no_hits_is_none() -> None:
    verdict = decide([], LIMITS)
    assert (verdict.decision, verdict.best) == (MatchDecision.NONE, None)


def test_exact_hit_is_a_match() -> None:
    exact = hit("sha256", 0, entry_id=7)
    verdict = decide([hit("pdq", 30), exact], LIMITS)
    assert (verdict.decision, verdict.best, verdict.reason) == (MatchDecision.MATCH, exact, "sha256 identical")


@pytest.mark.parametrize(
    ("algorithm", "distance", "expected"),
    [
        ("pdq", 0, MatchDecision.MATCH),
        ("pdq", 16, MatchDecision.MATCH),
        ("pdq", 17, MatchDecision.REVIEW),
        ("pdq", 31, MatchDecision.REVIEW),
        ("pdq", 32, MatchDecision.NONE),
        ("phash", 4, MatchDecision.MATCH),
        ("phash", 5, MatchDecision.REVIEW),
        ("phash", 8, MatchDecision.REVIEW),
        ("phash", 9, MatchDecision.NONE),
        ("dhash", 0, MatchDecision.NONE),  # no thresholds for it: never decides anything
    ],
)
def test_one_algorithm_against_its_thresholds(algorithm: str, distance: int, expected: MatchDecision) -> None:
    assert decide([hit(algorithm, distance)], LIMITS).decision is expected


def test_closest_confident_hit_decides_even_if_another_is_relatively_closer_but_only_in_review() -> None:
    pdq, phash = hit("pdq", 12), hit("phash", 5)  # 12/256 = 0.047 but a match; 5/64 = 0.078 review
    verdict = decide([phash, pdq], LIMITS)
    assert (verdict.decision, verdict.best) == (MatchDecision.MATCH, pdq)
    assert verdict.reason == "pdq 12 <= 16"


def test_pdq_and_phash_on_the_same_item_fuse_into_a_match() -> None:
    pdq, phash = hit("pdq", 20), hit("phash", 6)  # 20/31 + 6/8 = 1.40 <= 1.5
    verdict = decide([pdq, phash], LIMITS)
    assert (verdict.decision, verdict.best) == (MatchDecision.MATCH, pdq)
    assert "jointly close" in verdict.reason
    assert decide([hit("pdq", 24), hit("phash", 7)], LIMITS).decision is MatchDecision.REVIEW  # 0.77 + 0.88 = 1.65
    assert decide([pdq, phash], LIMITS, joint_max=1.0).decision is MatchDecision.REVIEW


@pytest.mark.parametrize(
    "other",
    [
        hit("phash", 6, entry_id=2, label="item-2"),  # another known item
        hit("phash", 6, entry_id=2, hash_set="partner"),  # the same label in another list
        hit("phash", 6, entry_id=2, label=None),  # unlabelled entries cannot be tied to an item
    ],
)
def test_hits_on_different_items_never_fuse(other: MatchHit) -> None:
    assert decide([hit("pdq", 20), other], LIMITS).decision is MatchDecision.REVIEW


def test_variant_does_not_change_the_rule_and_is_kept_on_the_best_hit() -> None:
    rotated = hit("pdq", 3, variant="pdq-dihedral:rot90")
    verdict = decide([hit("pdq", 25), rotated], LIMITS)
    assert verdict.best is not None and verdict.best.variant == "pdq-dihedral:rot90"


def test_review_picks_the_relatively_closest_hit() -> None:
    pdq, phash = hit("pdq", 30), hit("phash", 5, entry_id=2, label="other")  # 0.117 vs 0.078
    verdict = decide([pdq, phash], LIMITS)
    assert (verdict.decision, verdict.best, verdict.reason) == (MatchDecision.REVIEW, phash, "phash 5 <= 8")


def test_settings_supply_thresholds_and_reject_nonsense() -> None:
    settings = MatcherSettings(thresholds={"pdq": Thresholds(match=8, review=20)}, joint_max=2.0)
    assert decide_with([hit("pdq", 9)], settings).decision is MatchDecision.REVIEW
    assert decide_with([hit("pdq", 21)], settings).decision is MatchDecision.NONE
    assert settings.thresholds["phash"] == MatcherSettings().thresholds["phash"]  # unnamed algorithms keep defaults
    assert decide_with([hit("pdq", 19), hit("phash", 8)], settings).decision is MatchDecision.MATCH
    for bad in (
        {"thresholds": {"pdq": {"match": 32, "review": 31}}},
        {"thresholds": {"pdq": {"match": 1, "review": 257}}},
        {"thresholds": {"md5": {"match": 0, "review": 0}}},
        {"thresholds": {"nope": {"match": 0, "review": 0}}},
        {"thresholds": {"pdq": {"match": 1}}},
        {"joint_max": 0},
        {"min_pdq_quality": 101},
    ):
        with pytest.raises(ValidationError):
            MatcherSettings.model_validate(bad)


@pytest.mark.parametrize("distances", [[("sha256", 0)], [("md5", 0)], [("pdq", 0)], [("pdq", 16)],
                                       [("pdq", 20), ("phash", 6)], [("sha256", 0), ("pdq", 3), ("phash", 0)]])
def test_hits_on_a_survivor_list_always_go_to_an_analyst(distances: list[tuple[str, int]]) -> None:
    # Exact, close and jointly close hits that would each be a match on a known list.
    hits = [hit(a, d, entry_id=i, hash_set="survivor-submitted", kind=HashSetKind.SURVIVOR)
            for i, (a, d) in enumerate(distances)]
    assert decide([h.model_copy(update={"list_kind": HashSetKind.KNOWN}) for h in hits],
                  LIMITS).decision is MatchDecision.MATCH
    verdict = decide(hits, LIMITS)
    assert verdict.decision is MatchDecision.REVIEW
    assert verdict.best is not None and verdict.best.list_kind is HashSetKind.SURVIVOR
    assert "survivor list" in verdict.reason


def test_a_known_list_match_still_decides_beside_a_survivor_hit() -> None:
    survivor = hit("sha256", 0, entry_id=1, hash_set="survivor-submitted", kind=HashSetKind.SURVIVOR)
    known = hit("pdq", 10, entry_id=2)
    verdict = decide([survivor, known], LIMITS)
    assert (verdict.decision, verdict.best) == (MatchDecision.MATCH, known)


def test_a_survivor_hit_outside_the_review_radius_is_none() -> None:
    survivor = hit("pdq", 40, hash_set="survivor-submitted", kind=HashSetKind.SURVIVOR)
    assert decide([survivor], LIMITS).decision is MatchDecision.NONE

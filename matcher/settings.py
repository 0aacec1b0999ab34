"""Matcher settings: match and review thresholds per perceptual algorithm, fusion, index, replicas."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from core.settings import Section
from matcher.algorithms import SPECS, parse_algorithm


class Thresholds(Section):
    """Two Hamming distances for one perceptual algorithm.

    A hit at most ``match`` bits away is a confident match; one at most ``review`` bits away goes
    to an analyst. ``review`` is also the radius the index searches, so ``match <= review``.
    """

    match: int = Field(ge=0, description="Largest distance that is a confident match.")
    review: int = Field(ge=0, description="Largest distance sent to an analyst (the search radius).")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.match > self.review:
            raise ValueError(f"match threshold {self.match} is above the review threshold {self.review}")
        return self


def _default_thresholds() -> dict[str, Thresholds]:
    # Review: PDQ <= 31 of 256 bits is Meta's recommended match threshold (ThreatExchange, HMA), used
    # here for analyst review; <= 8 of 64 is the customary DCT-pHash near-duplicate threshold.
    # Match: about half of those, where unrelated benign images practically never land (PDQ's
    # inter-image distances centre near 128). Placeholders until the robustness benchmark
    # (benchmarks/robustness) calibrates them to < 1 false match in 10,000.
    return {"pdq": Thresholds(match=16, review=31), "phash": Thresholds(match=4, review=8)}


class MatcherSettings(Section):
    """How the matcher compares media hashes with the known lists and follows list changes."""

    thresholds: dict[str, Thresholds] = Field(
        default_factory=_default_thresholds,
        description=(
            "Per perceptual algorithm, {match, review} Hamming distances: within match is a confident "
            "match, within review goes to an analyst. Exact algorithms (md5, sha1, sha256) always match "
            "at distance 0 only."
        ),
    )
    joint_max: float = Field(
        default=1.5,
        gt=0,
        le=2.0,
        description=(
            "PDQ and pHash hits on the same known item (same list and label), each within its review "
            "threshold, make a confident match when distance_pdq/review_pdq + distance_phash/review_phash "
            "is at most this (2.0: any such pair; the default asks both to be within 3/4 of review on "
            "average). Two independent hashes agreeing on one item by chance is far rarer than one."
        ),
    )
    min_pdq_quality: int = Field(
        default=50,
        ge=0,
        le=100,
        description="PDQ hashes of lower quality are not matched (Meta's reference drops quality < 50).",
    )
    index: str = Field(
        default="auto",
        description=(
            "Index for perceptual hashes: auto (exact flat scan for small sets, multi-index hashing for "
            "large ones), faiss-flat, faiss-multihash or mih."
        ),
    )
    index_dir: Path | None = Field(
        default=None,
        description=(
            "Folder where the built indexes are saved after each full reload (FAISS file plus "
            "JSON sidecar per algorithm); empty keeps them in memory only. The store stays the "
            "source of truth."
        ),
    )
    replica_id: str = Field(
        default="",
        description=(
            "Names this matcher replica; its list-change consumer group is matching-lists-<replica_id>, "
            "so every replica sees every change. Set it to the pod or host name to keep the group across "
            "restarts; empty picks host-pid-random (a new group per start)."
        ),
    )
    resync_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How often a running matcher compares each list's generation in the store with what it "
            "applied and re-reads lists that differ: a safety net for changes whose bus announcement "
            "was lost (a writer that died between commit and publish, or an edit made without one)."
        ),
    )

    def review_radius(self, algorithm: str) -> int:
        """Search radius (review threshold) of a perceptual algorithm; 0 when it has none."""
        found = self.thresholds.get(algorithm)
        return found.review if found is not None else 0

    @field_validator("thresholds")
    @classmethod
    def _check_thresholds(cls, value: dict[str, Thresholds]) -> dict[str, Thresholds]:
        checked = _default_thresholds()
        for name, limits in value.items():
            algo = parse_algorithm(name)
            if algo is None:
                raise ValueError(f"unknown hash algorithm {name!r}")
            spec = SPECS[algo]
            if not spec.perceptual:
                raise ValueError(f"{algo.value} is an exact hash; it matches at distance 0 only")
            if limits.review > spec.bits:
                raise ValueError(f"{algo.value} review threshold must be within 0..{spec.bits}")
            checked[algo.value] = limits
        return checked

    @field_validator("index")
    @classmethod
    def _check_index(cls, value: str) -> str:
        # Imported here: the registry loads the index module, which settings need not load early.
        from matcher.base import IndexAbility
        from matcher.registry import INDEXES

        if value not in INDEXES or IndexAbility.NEAR not in INDEXES[value].abilities:
            near = sorted(n for n, c in INDEXES.items() if IndexAbility.NEAR in c.abilities)
            raise ValueError(f"unknown index {value!r}; use one of {', '.join(near)}")
        return value

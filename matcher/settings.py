"""Matcher settings: match and review thresholds per perceptual algorithm, fusion, indexes, replicas.

Algorithms, their sizes and their default thresholds come from the hashing registry
(:mod:`hashing.registry`); :func:`check_agreement` proves at start that the thresholds and
index kinds configured here fit the algorithms registered there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from core.messages import Classification, MatchDecision
from core.settings import Section
from hashing import registry
from hashing.base import HashAlgorithm
from matcher.classifications import DEFAULT_CLASSIFICATION_MAP, classification_table


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
    # Calibrated by `python -m benchmarks.run robustness` (benchmarks/README.md, robustness): 400 known
    # pictures, 11,200 edited copies, 11,086 benign non-matching images (4.4M image-entry pairs). No
    # non-matching image came within 78 PDQ bits or 10 pHash bits of an entry, so every value here
    # has 0 false matches there (<= 2.7 per 10,000 at 95%). What sets them is list size: a pHash
    # pair's chance to land within r bits, from a normal fit to all 4.4M pairs, is 1e-11 at 4 and
    # 9e-9 at 8, so per crawled image against a 10M-entry list ~1e-4 at 4 and ~9% at 8.
    # PDQ review 31 is Meta's match bound and the index radius. A match is confirmed without an
    # analyst: PDQ 24 (margin under Meta's 31; nothing non-matching came near) and pHash 2 (fit:
    # 2e-6 per image at 10M entries). pHash review 8 keeps the benchmark's 0 false reviews but
    # meets < 1 in 10,000 only up to ~20k entries (measured: benchmarks/README.md, "List scale"), so the
    # radius searched narrows with the lists' size (``review_by_entries``).
    # The values live with each algorithm (``HashAlgorithm.thresholds``), so a new one brings its own.
    return {
        name: Thresholds(match=algorithm.thresholds[0], review=algorithm.thresholds[1])
        for name, algorithm in registry.ALGORITHMS.items()
        if algorithm.thresholds is not None
    }


class ReviewStep(Section):
    """One step of a size-dependent review radius: lists of up to ``entries`` entries use ``review``."""

    entries: int | None = Field(ge=1, description="Most entries of the algorithm this step covers; None: any.")
    review: int = Field(ge=0, description="Review radius (and search radius) for lists of that size.")


def _default_review_steps() -> dict[str, list[ReviewStep]]:
    # Measured by `python -m benchmarks.run list_scale` (benchmarks/README.md, "List scale"); the
    # steps live with each algorithm (``HashAlgorithm.review_by_entries``), as its thresholds do.
    return {
        name: [ReviewStep(entries=n, review=r) for n, r in algorithm.review_by_entries]
        for name, algorithm in registry.ALGORITHMS.items()
        if algorithm.review_by_entries
    }


class VerifySettings(Section):
    """Local-feature verification of uncertain candidates (``[matcher.verify]``; :mod:`matcher.verify`).

    A hit beyond its algorithm's review threshold but within ``band`` is an uncertain candidate.
    Where the list holds a reduced copy of the image behind the entry (image-backed lists), ORB
    keypoints matched with a ratio test and a RANSAC homography confirm or reject it; elsewhere
    the hit is ignored, as without verification.
    """

    enabled: bool = Field(
        default=False,
        description=(
            "Verify candidates in the wider band. Off by default: every list is then searched to the "
            "band's radius, which costs search time on every crawled image (PDQ 64: ~50x radius 31 at "
            "100k entries; benchmarks/README.md, verification)."
        ),
    )
    band: dict[str, int] = Field(
        default_factory=lambda: {"pdq": 64, "phash": 10},
        description=(
            "Per perceptual algorithm, the widest distance verified (the index searches this far when "
            "enabled); hits between the review threshold and this are verified. Algorithms not named "
            "are not verified."
        ),
    )
    verified_decision: MatchDecision = Field(
        default=MatchDecision.MATCH,
        description="What a verified candidate becomes: match or review.",
    )
    max_candidates: int = Field(
        default=3, ge=1, le=20, description="Most band hits verified per media item (closest first)."
    )
    max_side: int = Field(
        default=512, ge=128, le=2048, description="Long side in pixels of the reduced grey images compared."
    )
    features: int = Field(default=1000, ge=100, le=5000, description="ORB keypoints per image at most.")
    min_keypoints: int = Field(
        default=40,
        ge=8,
        description="Fewer keypoints in either image make the check inconclusive (flat or featureless pictures).",
    )
    ratio: float = Field(default=0.75, gt=0, lt=1, description="Lowe's ratio test bound on descriptor distances.")
    min_inliers: int = Field(default=25, ge=4, description="RANSAC inliers needed to verify.")
    min_inlier_ratio: float = Field(
        default=0.35, gt=0, le=1, description="Share of ratio-test matches that must be RANSAC inliers."
    )
    max_scale: float = Field(
        default=4.0,
        gt=1,
        description="A homography scaling area by more than this (or less than its inverse) is rejected.",
    )
    min_coverage: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description=(
            "Share of the reference image the inliers' convex hull must cover, so a shared logo, caption "
            "or frame alone cannot verify two different pictures."
        ),
    )

    @field_validator("band")
    @classmethod
    def _band_names(cls, value: dict[str, int]) -> dict[str, int]:
        return {name.strip().lower(): radius for name, radius in value.items()}

    @field_validator("verified_decision")
    @classmethod
    def _match_or_review(cls, value: MatchDecision) -> MatchDecision:
        if value is MatchDecision.NONE:
            raise ValueError("verified_decision must be match or review")
        return value


class VpdqSettings(Section):
    """vPDQ's rule for whole videos (:mod:`matcher.vpdq`): frames matched in both directions.

    The defaults are python-threatexchange's (``vpdq_util``), except the target share, which HMA
    leaves at 0 and orbweaver asks to be as high as the query's: a short clip that shares one
    scene with a long known video must not match it whole.
    """

    distance: int = Field(default=31, ge=0, le=256, description="Two frames match within this PDQ distance.")
    min_quality: int = Field(default=50, ge=0, le=100, description="Frames of lower PDQ quality are not counted.")
    query_percent: float = Field(
        default=80.0, ge=0, le=100, description="Share of the crawled video's frames that must match (percent)."
    )
    target_percent: float = Field(
        default=80.0, ge=0, le=100, description="Share of the known video's frames that must match (percent)."
    )
    match_percent: int | None = Field(
        default=None, ge=0, le=100,
        description="A video hit with both shares at least this (percent) is a match; below it, or when unset "
                    "(the default), an analyst reviews every video hit.",
    )

    def match_distance(self) -> int | None:
        """The largest video-hit distance that is a match; None when every video hit goes to review.

        A video hit's distance (:func:`matcher.vpdq.hit_of`) is 100 minus its smaller share.
        """
        return None if self.match_percent is None else 100 - self.match_percent


EXACT_INDEX = "exact-map"
"""The index exact hashes go to unless ``indexes`` names another (``ExactIndex.name``)."""


class MatcherSettings(Section):
    """How the matcher compares media hashes with the known lists and follows list changes."""

    thresholds: dict[str, Thresholds] = Field(
        default_factory=_default_thresholds,
        description=(
            "Per perceptual algorithm, {match, review} Hamming distances: within match is a confident "
            "match, within review goes to an analyst. Algorithms not named keep the defaults they are "
            "registered with (their class's `thresholds`). Exact algorithms (md5, sha1, sha256) always "
            "match at distance 0 only."
        ),
    )
    review_by_entries: dict[str, list[ReviewStep]] = Field(
        default_factory=_default_review_steps,
        description=(
            "Per perceptual algorithm, review radius by list size: [{entries, review}, ...] ascending, the "
            "last with no entries (any size). Entries counts every enabled list's entries of the algorithm; "
            "the radius in force is that of the first step holding it, never above `thresholds` review, and "
            "the match threshold is lowered to it if above. Recomputed whenever a list changes. An "
            "algorithm given [] keeps its review radius at every size. Defaults: the algorithm's registered "
            "steps (pHash 8 up to 20k entries, 6 up to 1M, 4 up to 10M, then 2; PDQ none)."
        ),
    )
    indexes: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Per algorithm, the index that holds its entries (e.g. {dhash = \"faiss-flat\"}); "
            "perceptual algorithms not named use `index`, exact ones the exact index."
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
    list_variants_confirm: bool = Field(
        default=True,
        description=(
            "Whether a hit on a list-side variant (a crop of a known picture, stored for image-backed "
            "lists) may confirm a match by itself (rules 2 and 3 of matcher.decision); false: it only "
            "sends the media to review. The default follows benchmarks/README.md (robustness, "
            "image-backed): no false match through a variant at the match thresholds."
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
            "Folder where the built indexes are saved after each full reload (a snapshot: FAISS file "
            "or arrays plus JSON sidecar per algorithm, and a manifest); at start a replica loads the "
            "snapshot instead of rebuilding when no list changed since and the index settings are the "
            "same. Empty keeps indexes in memory only. The store stays the source of truth."
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
    classification_map: dict[str, Classification] = Field(
        default_factory=lambda: dict(DEFAULT_CLASSIFICATION_MAP),
        description=(
            "How `hashset import` reads a list's classification terms (NCMEC A1/A2/B1/B2, INTERPOL baseline, "
            "IWF categories, Shield's csam/harmful-abusive-material...): term -> orbweaver classification. "
            "Entries given here are laid over the default table (README, 'Hash-list classifications'); "
            "terms match ignoring case, with - and blanks read as _. A term in no table is a line error."
        ),
    )
    verify: VerifySettings = Field(
        default_factory=VerifySettings,
        description="Local-feature verification of candidates in a wider band ([matcher.verify]).",
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

    vpdq: VpdqSettings = Field(
        default_factory=VpdqSettings,
        description="How crawled videos are matched against the vPDQ video hashes of the lists (`[matcher.vpdq]`).",
    )

    def review_radius(self, algorithm: str) -> int:
        """Search radius (review threshold) of a perceptual algorithm; 0 when it has none."""
        found = self.thresholds.get(algorithm)
        return found.review if found is not None else 0

    def search_radius(self, algorithm: str) -> int:
        """How far the index searches: the review threshold, or the verification band when wider and on."""
        review = self.review_radius(algorithm)
        if not self.verify.enabled:
            return review
        return max(review, self.verify.band.get(algorithm, 0))

    def effective_thresholds(self, entries: Mapping[str, int]) -> dict[str, Thresholds]:
        """The thresholds in force for lists holding ``entries`` entries per algorithm.

        Each algorithm's review radius is that of the first :attr:`review_by_entries` step that
        holds its entry count (never above the configured review), its match threshold at most
        that radius; algorithms without steps keep their configured thresholds.
        """
        out = dict(self.thresholds)
        for name, steps in self.review_by_entries.items():
            configured = out.get(name)
            if configured is None or not steps:
                continue
            count = entries.get(name, 0)
            step = next(s for s in steps if s.entries is None or count <= s.entries)
            review = min(configured.review, step.review)
            out[name] = Thresholds(match=min(configured.match, review), review=review)
        return out

    def index_kind(self, algorithm: type[HashAlgorithm]) -> str:
        """Name of the index implementation that holds ``algorithm``'s entries."""
        default = self.index if algorithm.is_perceptual() else EXACT_INDEX
        return self.indexes.get(algorithm.name, default)

    @field_validator("thresholds", "indexes", "review_by_entries")
    @classmethod
    def _names_are_lowercase(cls, value: dict[str, object]) -> dict[str, object]:
        # Algorithm names are storage keys; "PDQ" from a settings file means "pdq".
        return {name.strip().lower(): item for name, item in value.items()}

    @field_validator("classification_map")
    @classmethod
    def _over_default_terms(cls, value: dict[str, Classification]) -> dict[str, Classification]:
        return classification_table(value)

    @field_validator("review_by_entries")
    @classmethod
    def _fill_default_steps(cls, value: dict[str, list[ReviewStep]]) -> dict[str, list[ReviewStep]]:
        return {**_default_review_steps(), **value}

    @field_validator("thresholds")
    @classmethod
    def _fill_defaults(cls, value: dict[str, Thresholds]) -> dict[str, Thresholds]:
        return {**_default_thresholds(), **value}

    @model_validator(mode="after")
    def _agree(self) -> MatcherSettings:
        check_agreement(self)
        return self


def check_agreement(settings: MatcherSettings) -> None:
    """Prove the configured algorithms, thresholds and index kinds fit the hashing registry.

    Run whenever settings are built (so at every start): a threshold or index named for an
    algorithm the registry lacks, a threshold on an exact hash or beyond an algorithm's bits, a
    perceptual algorithm without thresholds, or an index that cannot search an algorithm's
    radius would otherwise surface as silent non-matches much later.

    Raises:
        ValueError: Naming every disagreement (settings loading turns it into ConfigError).
    """
    # Imported here: the index registry loads index modules (FAISS), which settings need not load early.
    from matcher.base import IndexAbility
    from matcher.registry import INDEXES

    problems: list[str] = []
    for name in sorted(set(settings.thresholds) | set(settings.indexes) | set(settings.verify.band)
                       | set(settings.review_by_entries)):
        if registry.find(name) is None:
            problems.append(f"unknown hash algorithm {name!r} (registered: {registry.known()})")
    if settings.index not in INDEXES or IndexAbility.NEAR not in INDEXES[settings.index].abilities:
        near = sorted(n for n, c in INDEXES.items() if IndexAbility.NEAR in c.abilities)
        problems.append(f"unknown index {settings.index!r}; use one of {', '.join(near)}")
    for name, algorithm in sorted(registry.ALGORITHMS.items()):
        limits = settings.thresholds.get(name)
        if not algorithm.is_perceptual():
            if limits is not None:
                problems.append(f"{name} is an exact hash; it matches at distance 0 only (no thresholds)")
        elif limits is None:
            problems.append(f"{name} is perceptual but has no thresholds (registered or configured)")
        elif limits.review > algorithm.bits:
            problems.append(f"{name} review threshold {limits.review} is above its {algorithm.bits} bits")
        band = settings.verify.band.get(name)
        if band is not None and (not algorithm.is_perceptual() or band > algorithm.bits):
            problems.append(f"verify band {band} for {name} does not fit a {algorithm.bits}-bit perceptual hash")
        problems.extend(_step_problems(name, algorithm, settings.review_by_entries.get(name, [])))
        kind = settings.indexes.get(name)
        if kind is None:
            continue
        index = INDEXES.get(kind)
        if index is None:
            problems.append(f"{name}: unknown index {kind!r}; known: {', '.join(sorted(INDEXES))}")
        elif settings.search_radius(name) > 0 and IndexAbility.NEAR not in index.abilities:
            problems.append(
                f"{name}: index {kind!r} finds identical codes only, but {name} is searched "
                f"within {settings.search_radius(name)} bits"
            )
    if problems:
        raise ValueError("; ".join(problems))


def _step_problems(name: str, algorithm: type[HashAlgorithm], steps: Sequence[ReviewStep]) -> list[str]:
    """What is wrong with one algorithm's review-by-list-size steps (see ``review_by_entries``)."""
    if not steps:
        return []
    if not algorithm.is_perceptual():
        return [f"{name} is an exact hash; it has no review radius to scale with list size"]
    problems = []
    sizes = [s.entries for s in steps]
    if sizes[-1] is not None or None in sizes[:-1]:
        problems.append(f"{name} review_by_entries: the last step, and only it, must have no entries (any size)")
    bounded = [n for n in sizes if n is not None]
    if bounded != sorted(set(bounded)):
        problems.append(f"{name} review_by_entries: entries must ascend")
    if any(s.review > algorithm.bits for s in steps):
        problems.append(f"{name} review_by_entries: a review radius is above its {algorithm.bits} bits")
    return problems

"""Matcher verdict: fuses every hit of one media item (PDQ, pHash, exact) into match, review or none.

The rule, in order:

1. **Exact.** A hit of a cryptographic hash (md5, sha1, sha256; always distance 0) is a match.
2. **One algorithm, close.** A perceptual hit within its algorithm's ``match`` threshold is a match.
3. **Two algorithms, jointly close.** A PDQ hit and a pHash hit on the same known item (same list,
   same non-empty label: lists made from images carry both hashes under the file's name) are a
   match when ``d_pdq / review_pdq + d_phash / review_phash <= joint_max``. Two independent
   algorithms agreeing is stronger evidence than either alone; hits on different items never fuse.
4. **Video.** A vPDQ hit (a whole video matched by vPDQ's two-way rule, :mod:`matcher.vpdq`) is a
   match only where ``[matcher.vpdq] match_percent`` is set and both shares reach it.
5. **Review.** Any other hit within its algorithm's ``review`` threshold, and every other vPDQ
   hit, goes to an analyst.
6. **None** otherwise.

Rules 1-3 consider only hits on lists whose kind may confirm by itself. A hit on a list of a
:data:`REVIEW_ONLY` kind (hashes a survivor computed on their own device: nobody has seen what
they were made from) is at most ``review``, however close, even identical: an analyst decides.

Hits may come from any variant of the media (trimmed, rotated, a video frame); the variant travels
on the hit and does not change the rule. The function is pure: thresholds in, verdict out.

**List-side variants.** A hit may also be on a list-side variant of a known entry (a crop of the
known picture, ``MatchHit.list_variant``; ``hashing/list_variants.py``). It is held to the same
thresholds as a hit on its parent, and with ``confirm_variants`` (``list_variants_confirm``, on by
default) it takes part in rules 2 and 3 like one: a copy cropped by 10% is as close to the crop of
10% as an uncropped copy is to the parent, and the robustness benchmark saw no false match
through a variant (``benchmarks/README.md``, image-backed). Off, a variant hit never confirms:
it can only send the media to review, whatever its distance. A variant never loosens a
threshold: media its parent sends to review is confirmed only when a variant itself is within
the match threshold (or jointly close), never because of the parent's hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.messages import HashSetKind, MatchDecision, MatchHit
from hashing import registry
from hashing.algorithms import Pdq, PHash
from matcher.settings import MatcherSettings, Thresholds

REVIEW_ONLY: frozenset[HashSetKind] = frozenset({HashSetKind.SURVIVOR})
"""List kinds whose hits always go to an analyst, never confirmed by the matcher alone."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision, the hit that best supports it, and why.

    Attributes:
        decision: match, review or none.
        best: The hit that decided it (the closest relevant one); None for ``none``.
        reason: One line for logs and analysts, e.g. ``"pdq 12 <= 16"``.

    """

    decision: MatchDecision
    best: MatchHit | None
    reason: str


def relative(hit: MatchHit) -> float:
    """A hit's distance as a share of its hash length (0.0 for exact hits)."""
    algo = registry.find(hit.algorithm)
    return hit.distance / algo.bits if algo is not None else 1.0


def _limits(hit: MatchHit, thresholds: dict[str, Thresholds]) -> Thresholds | None:
    """The thresholds of a hit's algorithm: exact ones are 0/0; unknown or unconfigured ones None."""
    algo = registry.find(hit.algorithm)
    if algo is None:
        return None
    if not algo.is_perceptual():
        return Thresholds(match=0, review=0)
    return thresholds.get(algo.name)


def _closest(hits: Sequence[MatchHit]) -> MatchHit:
    return min(hits, key=lambda h: (relative(h), h.algorithm, h.entry_id))


def decide(hits: Sequence[MatchHit], thresholds: dict[str, Thresholds], joint_max: float = 1.5,
           video_match: int | None = None, *, confirm_variants: bool = True) -> Verdict:
    """Fuse one media item's hits into a single verdict (see the module docstring for the rule).

    Args:
        hits: Every hit of the item, any algorithm and variant.
        thresholds: ``{algorithm: Thresholds}`` for the perceptual algorithms.
        joint_max: Bound on the sum of the two review-relative distances for rule 3.
        video_match: Largest distance of a video-signal hit that is a match (rule 4); None: reviewed.
        confirm_variants: Whether hits on list-side variants may confirm (rules 2 and 3).

    Returns:
        The verdict with its deciding hit and reason.

    """
    relevant: list[tuple[MatchHit, Thresholds]] = []
    # Video hits already passed their own rule (both shares); their distance is not in bits.
    videos = sorted((h for h in hits if registry.video_signal(h.algorithm) is not None),
                    key=lambda h: (h.distance, h.entry_id))
    for hit in hits:
        limits = _limits(hit, thresholds)
        if limits is not None and 0 <= hit.distance <= limits.review:
            relevant.append((hit, limits))
    if not relevant and not videos:
        return Verdict(MatchDecision.NONE, None, "no hit within a review threshold")
    confirmable = [(h, t) for h, t in relevant if h.list_kind not in REVIEW_ONLY]
    exact = [h for h, _ in confirmable if not registry.ALGORITHMS[h.algorithm].is_perceptual()]
    if exact:
        best = _closest(exact)
        return Verdict(MatchDecision.MATCH, best, f"{best.algorithm} identical")
    confirming = [(h, t) for h, t in confirmable if confirm_variants or not h.list_variant]
    close = [(h, t) for h, t in confirming if h.distance <= t.match]
    if close:
        best, limits = min(close, key=lambda ht: (relative(ht[0]), ht[0].algorithm, ht[0].entry_id))
        return Verdict(MatchDecision.MATCH, best, f"{best.algorithm} {best.distance} <= {limits.match}{_via(best)}")
    joint = _joint(confirming, joint_max)
    if joint is not None:
        return joint
    if videos and video_match is not None and videos[0].distance <= video_match:
        return Verdict(MatchDecision.MATCH, videos[0],
                       f"{videos[0].algorithm} shares >= {100 - videos[0].distance}% >= {100 - video_match}%")
    if not relevant:
        return Verdict(MatchDecision.REVIEW, videos[0],
                       f"{videos[0].algorithm} shares >= {100 - videos[0].distance}%, reviewed")
    best = _closest([h for h, _ in relevant])
    if best.list_kind in REVIEW_ONLY:
        return Verdict(MatchDecision.REVIEW, best,
                       f"{best.algorithm} {best.distance} on a {best.list_kind.value} list: an analyst decides")
    limits = dict((h.algorithm, t) for h, t in relevant)[best.algorithm]
    return Verdict(MatchDecision.REVIEW, best, f"{best.algorithm} {best.distance} <= {limits.review}{_via(best)}")


def _via(hit: MatchHit) -> str:
    """`` via list variant crop-c10`` for a hit on a list-side variant, else nothing."""
    return f" via list variant {hit.list_variant}" if hit.list_variant else ""


def _joint(relevant: Sequence[tuple[MatchHit, Thresholds]], joint_max: float) -> Verdict | None:
    """Rule 3: the best PDQ + pHash pair on one known item whose combined distance is small."""
    pdq = [(h, t) for h, t in relevant if h.algorithm == Pdq.name and h.entry_label]
    phash = [(h, t) for h, t in relevant if h.algorithm == PHash.name and h.entry_label]
    best: tuple[float, MatchHit, MatchHit] | None = None
    for p, pt in pdq:
        for q, qt in phash:
            if (p.hash_set, p.entry_label) != (q.hash_set, q.entry_label):
                continue
            # A review threshold of 0 would make any nonzero distance infinitely far; it cannot
            # reach here with a nonzero distance, and a zero distance contributes nothing.
            score = (p.distance / pt.review if pt.review else 0.0) + (q.distance / qt.review if qt.review else 0.0)
            if score <= joint_max and (best is None or score < best[0]):
                best = (score, p, q)
    if best is None:
        return None
    score, p, q = best
    return Verdict(
        MatchDecision.MATCH,
        p,
        f"pdq {p.distance} and phash {q.distance} on {p.entry_label!r} jointly close ({score:.2f} <= {joint_max:g})",
    )


def decide_with(hits: Sequence[MatchHit], settings: MatcherSettings) -> Verdict:
    """:func:`decide` with the thresholds and joint bound of ``settings``."""
    return decide(hits, settings.thresholds, settings.joint_max, settings.vpdq.match_distance(),
                  confirm_variants=settings.list_variants_confirm)

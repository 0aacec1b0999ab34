"""Matcher, after the index: local-feature verification of uncertain candidates (ORB, ratio test, RANSAC).

A global hash (PDQ, pHash) sums a whole picture into one code, so a crop, a caption bar or a turn
moves it further than the review radius allows, while an unrelated picture may land as close by
chance. Local features tell the two apart: keypoints of the crawled image matched with those of
the image behind a list entry, filtered by Lowe's ratio test, must agree on one plausible
geometric mapping (a RANSAC homography: enough inliers, a large share of the matches, no
collapse, flip or extreme scaling, and spread over a good part of the picture). This is the check
Thorn's ``perception`` uses to confirm near-duplicates, here written from its description.

It runs only on hits in the wider band of ``[matcher.verify]`` (beyond the review threshold),
and only where the list holds the image behind the entry: lists made with ``hashset add-images``
keep a reduced grey copy of each image (:func:`keep_reference`, ``matcher/references/`` in the
blob store), and media analysts confirmed is read from its kept evidence. Everything else is
``unavailable`` and behaves as without verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy import select

from core.blobs import BlobStore, evidence_key
from core.errors import PermanentError
from core.messages import MatchHit
from core.optional import require
from core.store import Store
from core.store.tables.matcher import HashEntry, HashSet
from hashing.base import TRANSPOSITIONS
from hashing.decode import DecodeLimits, MediaDecodeError, decode_image
from hashing.hasher import DIHEDRAL_PREFIX
from hashing.pdq import Dihedral
from matcher.settings import VerifySettings

Grey = npt.NDArray[np.uint8]
"""A reduced 8-bit grayscale picture, rows by columns."""

REFERENCE_PREFIX = "matcher/references"


class VerifyOutcome(StrEnum):
    """What verification concluded about one candidate (values are metric labels and log keys)."""

    VERIFIED = "verified"
    """The two pictures share one plausible geometry: the same picture, edited."""
    REJECTED = "rejected"
    """Both pictures have features, and they do not agree: different pictures."""
    INCONCLUSIVE = "inconclusive"
    """Too few keypoints (flat or featureless pictures): neither confirmed nor rejected."""
    UNAVAILABLE = "unavailable"
    """No image behind the entry, or no staged body of the media: nothing to compare."""
    FAILED = "failed"
    """An image that should be there could not be read (corrupt or missing reference, corrupt body)."""


class UnreadableImageError(PermanentError):
    """A picture that verification needs cannot be decoded; the reason names which one and why."""


@dataclass(frozen=True, slots=True)
class Verification:
    """One comparison's outcome and the numbers behind it (no pixels: safe to log).

    Attributes:
        outcome: verified, rejected or inconclusive (a comparison is never unavailable).
        reason: One line for logs and analysts.
        matches: Descriptor matches that passed the ratio test.
        inliers: Of those, RANSAC inliers of the homography (0 without one).
    """

    outcome: VerifyOutcome
    reason: str
    matches: int = 0
    inliers: int = 0


@dataclass(frozen=True, slots=True)
class Features:
    """ORB keypoints of one picture: positions (n x 2, float32), descriptors (n x 32, uint8), size."""

    points: npt.NDArray[np.float32]
    descriptors: npt.NDArray[np.uint8]
    shape: tuple[int, int]

    def __len__(self) -> int:
        return len(self.points)


def _cv2() -> Any:
    return require("cv2", "hashing")


def reduce_image(data: bytes, max_side: int) -> Grey:
    """Decode untrusted bytes with the hashing stage's hardened decoder; grey, long side at most ``max_side``.

    Raises:
        UnreadableImageError: If the bytes are not a decodable picture.
    """
    try:
        decoded = decode_image(data, DecodeLimits(working_size=max(32, max_side // 2)))
    except MediaDecodeError as exc:
        raise UnreadableImageError(exc.reason) from None
    grey = np.asarray(decoded.image, dtype=np.uint8)
    return _fit(grey, max_side)


def _fit(grey: Grey, max_side: int) -> Grey:
    height, width = grey.shape
    scale = max_side / max(height, width)
    if scale >= 1:
        return np.ascontiguousarray(grey)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(_cv2().resize(grey, size, interpolation=_cv2().INTER_AREA), dtype=np.uint8)


def reference_key(sha256: str) -> str:
    """Where the reduced copy of the image with this SHA-256 is kept for verification."""
    return f"{REFERENCE_PREFIX}/{sha256[:2]}/{sha256}.png"


def keep_reference(blobs: BlobStore, sha256: str, data: bytes, max_side: int = 512) -> str:
    """Store a reduced grey copy of a list image (PNG, lossless) and return its key.

    Raises:
        UnreadableImageError: If ``data`` is not a decodable picture.
    """
    ok, png = _cv2().imencode(".png", reduce_image(data, max_side))
    if not ok:  # cannot happen for an 8-bit grey array; never store an empty reference
        raise UnreadableImageError("reference could not be encoded as PNG")
    key = reference_key(sha256)
    blobs.put(key, bytes(png))
    return key


class Verifier:
    """Compares two reduced pictures by ORB keypoints, Lowe's ratio test and a RANSAC homography.

    Args:
        settings: The ``[matcher.verify]`` bounds.
    """

    def __init__(self, settings: VerifySettings) -> None:
        self.settings = settings
        cv2 = _cv2()
        self._orb = cv2.ORB_create(nfeatures=settings.features)
        self._bf = cv2.BFMatcher(cv2.NORM_HAMMING)

    def features(self, grey: Grey) -> Features:
        """ORB keypoints and descriptors of one reduced picture (none for a flat one)."""
        keypoints, descriptors = self._orb.detectAndCompute(grey, None)
        if descriptors is None or not keypoints:
            return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), grey.shape[:2])
        points = np.array([kp.pt for kp in keypoints], dtype=np.float32)
        return Features(points, descriptors, (int(grey.shape[0]), int(grey.shape[1])))

    def verify(self, query: Grey, reference: Grey) -> Verification:
        """Whether ``query`` shows ``reference`` (edited); see :meth:`compare`."""
        return self.compare(self.features(query), self.features(reference))

    def compare(self, query: Features, reference: Features) -> Verification:
        """Compare the features of a crawled picture with those of a list picture.

        Returns:
            inconclusive when either has fewer than ``min_keypoints``; verified when a homography
            from reference to query passes every check; rejected otherwise, with the failed check.
        """
        s = self.settings
        if min(len(query), len(reference)) < s.min_keypoints:
            return Verification(VerifyOutcome.INCONCLUSIVE,
                                f"too few keypoints ({len(query)} and {len(reference)} < {s.min_keypoints})")
        pairs = self._bf.knnMatch(reference.descriptors, query.descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < s.ratio * p[1].distance]
        if len(good) < s.min_inliers:
            return Verification(VerifyOutcome.REJECTED, f"{len(good)} ratio-test matches < {s.min_inliers}", len(good))
        src = reference.points[[m.queryIdx for m in good]]
        dst = query.points[[m.trainIdx for m in good]]
        homography, mask = _cv2().findHomography(src, dst, _cv2().RANSAC, 5.0)
        if homography is None or mask is None:
            return Verification(VerifyOutcome.REJECTED, "no homography", len(good))
        inlier = mask.ravel().astype(bool)
        inliers = int(inlier.sum())
        problem = self._implausible(homography, inliers, len(good), src[inlier], reference.shape)
        if problem is not None:
            return Verification(VerifyOutcome.REJECTED, problem, len(good), inliers)
        return Verification(VerifyOutcome.VERIFIED, f"{inliers} of {len(good)} matches agree on one geometry",
                            len(good), inliers)

    def _implausible(self, h: npt.NDArray[np.float64], inliers: int, matches: int,
                     points: npt.NDArray[np.float32], shape: tuple[int, int]) -> str | None:
        """The first check the homography fails, or None when it is plausible."""
        s = self.settings
        if inliers < s.min_inliers:
            return f"{inliers} inliers < {s.min_inliers}"
        if inliers / matches < s.min_inlier_ratio:
            return f"inlier ratio {inliers / matches:.2f} < {s.min_inlier_ratio:g}"
        if abs(h[2, 2]) < 1e-9:
            return "degenerate homography"
        h = h / h[2, 2]
        det = float(np.linalg.det(h[:2, :2]))
        # det < 0 is a mirror (the query side's flips are hashed, not matched here); the area
        # scale bound stops a few points from mapping a whole picture onto a speck or back.
        if not 1 / s.max_scale <= det <= s.max_scale:
            return f"homography area scale {det:.3g} outside [1/{s.max_scale:g}, {s.max_scale:g}]"
        if max(abs(h[2, 0]), abs(h[2, 1])) * max(shape) > 0.5:
            return "homography bends perspective too far"
        height, width = shape
        corners = np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], dtype=np.float32)
        mapped = _cv2().perspectiveTransform(corners, h)
        if not _cv2().isContourConvex(mapped):
            return "homography folds the picture"
        hull = _cv2().convexHull(points.reshape(-1, 1, 2))
        coverage = float(_cv2().contourArea(hull)) / (width * height)
        if coverage < s.min_coverage:
            return f"matches cover {coverage:.0%} of the picture < {s.min_coverage:.0%}"
        return None


@dataclass(frozen=True, slots=True)
class CandidateCheck:
    """Verification's verdict on one media item's uncertain hits.

    Attributes:
        outcome: The best outcome over the hits tried (verified, else failed, rejected,
            inconclusive, unavailable).
        hit: The verified hit (for ``verified``), else the closest hit tried, or None.
        reason: One line for logs and analysts.
    """

    outcome: VerifyOutcome
    hit: MatchHit | None
    reason: str


_RANK = {VerifyOutcome.VERIFIED: 0, VerifyOutcome.FAILED: 1, VerifyOutcome.REJECTED: 2,
         VerifyOutcome.INCONCLUSIVE: 3, VerifyOutcome.UNAVAILABLE: 4}


def _transposition(variant: str) -> str:
    """The dihedral variant a hit was reached by ("" for none): the query is turned the same way.

    ORB keypoints survive rotations but not mirrors, so a copy found by its flipped hash must be
    flipped back before its features can agree with the reference's.
    """
    name = variant.removeprefix(DIHEDRAL_PREFIX) if variant.startswith(DIHEDRAL_PREFIX) else ""
    return name if name in {d.value for d in Dihedral} else ""


def orient(grey: Grey, variant: str) -> Grey:
    """The query picture turned as the hash variant that reached the entry was (unchanged for others)."""
    turn = _transposition(variant)
    if not turn:
        return grey
    turned = Image.fromarray(grey).transpose(TRANSPOSITIONS[Dihedral(turn)])
    return np.ascontiguousarray(np.asarray(turned, dtype=np.uint8))


def reference_images(store: Store, hits: Sequence[MatchHit]) -> dict[int, list[str]]:
    """Per hit entry, the SHA-256 values of the images behind it (image-backed lists only).

    An image-backed list carries each picture's ``sha256`` entry beside its perceptual ones,
    under the same label in the same list (``hashset add-images``, analysts' confirmations).
    """
    out: dict[int, list[str]] = {}
    with store.session() as s:
        for hit in hits:
            if not hit.entry_label:
                continue
            rows = s.execute(
                select(HashEntry.value).join(HashSet, HashSet.id == HashEntry.hash_set_id)
                .where(HashSet.name == hit.hash_set, HashEntry.label == hit.entry_label,
                       HashEntry.algorithm == "sha256")
                .order_by(HashEntry.id)
            ).scalars().all()
            if rows:
                out[hit.entry_id] = [str(v) for v in rows]
    return out


class CandidateVerifier:
    """Verifies a media item's uncertain hits against the images behind their entries.

    Args:
        store: The shared store (the hit entries' labels lead to the images).
        blobs: Where references, evidence and the staged media body are.
        settings: The ``[matcher.verify]`` bounds.
    """

    def __init__(self, store: Store, blobs: BlobStore, settings: VerifySettings) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.verifier = Verifier(settings)

    def _reference(self, sha256: str) -> Grey | None:
        """The reduced picture behind an entry: its kept reference, else its kept evidence; None if neither.

        Raises:
            UnreadableImageError: If what is kept there cannot be decoded.
        """
        for key in (reference_key(sha256), evidence_key(sha256)):
            try:
                data = self.blobs.get(key)
            except KeyError:
                continue
            try:
                return reduce_image(data, self.settings.max_side)
            except UnreadableImageError as exc:
                raise UnreadableImageError(f"reference {key} is unreadable ({exc.reason})") from None
        return None

    def check(self, blob_key: str | None, uncertain: Sequence[MatchHit]) -> CandidateCheck:
        """Verify up to ``max_candidates`` uncertain hits (closest first) of one media item.

        Args:
            blob_key: The media's staged body (``HashedMedia.blob_key``).
            uncertain: Its hits in the verification band, closest first.

        Returns:
            ``verified`` with the first hit that verifies; otherwise the most telling outcome:
            ``failed`` (an image could not be read; the reason says which), ``rejected``,
            ``inconclusive`` or ``unavailable``.
        """
        hits = list(uncertain)[: self.settings.max_candidates]
        sources = reference_images(self.store, hits) if hits else {}
        if not sources or blob_key is None:
            return CandidateCheck(VerifyOutcome.UNAVAILABLE, hits[0] if hits else None,
                                  "no image behind the entries" if blob_key else "no staged body")
        try:
            query = reduce_image(self.blobs.get(blob_key), self.settings.max_side)
        except KeyError:
            return CandidateCheck(VerifyOutcome.UNAVAILABLE, hits[0], "staged body is gone")
        except UnreadableImageError as exc:
            return CandidateCheck(VerifyOutcome.FAILED, hits[0], f"media body is unreadable ({exc.reason})")
        oriented: dict[str, Features] = {}
        best = CandidateCheck(VerifyOutcome.UNAVAILABLE, hits[0], "no image behind the entries is kept")
        for hit in hits:
            turn = _transposition(hit.variant)
            if turn not in oriented:
                oriented[turn] = self.verifier.features(orient(query, hit.variant))
            for sha256 in sources.get(hit.entry_id, []):
                try:
                    reference = self._reference(sha256)
                except UnreadableImageError as exc:
                    found = CandidateCheck(VerifyOutcome.FAILED, hit, exc.reason)
                else:
                    if reference is None:
                        continue
                    result = self.verifier.compare(oriented[turn], self.verifier.features(reference))
                    found = CandidateCheck(result.outcome, hit, f"{hit.algorithm} {hit.distance}: {result.reason}")
                if found.outcome is VerifyOutcome.VERIFIED:
                    return found
                if _RANK[found.outcome] < _RANK[best.outcome]:
                    best = found
        return best

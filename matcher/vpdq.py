"""Matcher, video: known videos given as vPDQ hashes, stored per entry and matched with vPDQ's two-way rule.

A vPDQ hash (see :mod:`hashing.vpdq`) is a video's per-frame PDQ with quality and timestamp. vPDQ
does not look a video up by one code: it compares two videos' frame sets. Both sides drop frames
below a quality floor and repeated PDQ values; then the share of the crawled (query) video's
frames that lie within ``distance`` bits of some frame of the known (target) video, and the share
of the target's frames within ``distance`` of some query frame, must both reach their thresholds
(:class:`~matcher.settings.VpdqSettings`). python-threatexchange counts a frame pair at distance
``<= distance`` (the C++ tool at ``< distance``); orbweaver follows the Python signal, which HMA runs.

Not yet called by the matching stage (:mod:`matcher.stage`): a vPDQ entry is not a
``hash_entries`` row, while ``matches.hash_entry_id``, review items' ``best_entry_id`` and the
review page all read a hit's entry id as one; a video hit needs its own kind of hit first.

Lists of videos are small beside image lists (thousands, not millions), and a crawled video has
tens of frames, so the comparison is a vectorised brute-force scan, as vPDQ's own matcher does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import TransientError
from core.messages import utcnow
from core.store import Store
from core.store.tables.matcher import HashSet, VpdqFrame, VpdqVideo
from hashing.vpdq import VpdqFeature, dedupe, write_vpdq
from matcher.lists import LineError
from matcher.settings import VpdqSettings

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _codes(features: Sequence[VpdqFeature]) -> npt.NDArray[np.uint8]:
    """The PDQ values as a (frames, 32) byte array."""
    if not features:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(b"".join(bytes.fromhex(f.pdq) for f in features), dtype=np.uint8).reshape(-1, 32)


def usable(features: Iterable[VpdqFeature], min_quality: int) -> list[VpdqFeature]:
    """The frames vPDQ counts: quality at least ``min_quality``, each PDQ value once."""
    return dedupe(f for f in features if f.quality >= min_quality)


@dataclass(frozen=True, slots=True)
class VpdqScore:
    """How much of two videos matched, in percent of each side's usable frames."""

    query_percent: float
    """Share of the crawled video's frames within the distance of some known frame."""
    target_percent: float
    """Share of the known video's frames within the distance of some crawled frame."""

    def matches(self, settings: VpdqSettings) -> bool:
        """Whether both shares reach their thresholds (vPDQ's rule) and some frame matched at all.

        The second condition keeps thresholds of 0 (HMA's default for the target share) from
        matching a video that shares no frame.
        """
        if not self.query_percent or not self.target_percent:
            return False
        return self.query_percent >= settings.query_percent and self.target_percent >= settings.target_percent


def score(query: Sequence[VpdqFeature], target: Sequence[VpdqFeature], settings: VpdqSettings) -> VpdqScore:
    """Compare two videos' features with vPDQ's rule (quality floor, dedupe, two-way shares).

    A side with no usable frame matches nothing (0 %): a blank video is no evidence.
    """
    q = _codes(usable(query, settings.min_quality))
    t = _codes(usable(target, settings.min_quality))
    if not len(q) or not len(t):
        return VpdqScore(0.0, 0.0)
    distances = _POPCOUNT[q[:, None, :] ^ t[None, :, :]].sum(axis=2, dtype=np.int32)
    close = distances <= settings.distance
    return VpdqScore(100.0 * float(close.any(axis=1).mean()), 100.0 * float(close.any(axis=0).mean()))


@dataclass(frozen=True, slots=True)
class ParsedVideo:
    """The usable frames of a vPDQ hash file and the lines that were skipped."""

    features: list[VpdqFeature] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def parse_vpdq(text: str) -> ParsedVideo:
    """Read a vPDQ hash file (``frame,quality,pdq_hex,timestamp`` lines; ``#`` comments and blanks skipped).

    Every unusable line is reported with its 1-based number and the reason; good lines are kept.
    """
    out = ParsedVideo()
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.features.append(VpdqFeature.from_line(line))
        except ValueError as exc:
            out.errors.append(LineError(line_no, raw, str(exc)))
    return out


@dataclass(frozen=True, slots=True)
class KnownVideo:
    """A stored vPDQ entry as the matcher holds it."""

    id: int
    hash_set: str
    label: str | None
    classification: str | None
    features: tuple[VpdqFeature, ...]


@dataclass(frozen=True, slots=True)
class VpdqHit:
    """A crawled video that matched a known vPDQ video, with both shares."""

    video: KnownVideo
    score: VpdqScore


def digest(features: Sequence[VpdqFeature]) -> str:
    """SHA-256 of the features' canonical vPDQ text: names one video's hash whatever file it came in."""
    return hashlib.sha256(write_vpdq(features).encode()).hexdigest()


def import_video(store: Store, name: str, features: Sequence[VpdqFeature], *, label: str | None = None,
                 classification: str | None = None, source: str | None = None) -> int | None:
    """Add one known video to set ``name`` (created if missing), with its frames.

    Returns:
        The new entry's id, or None if the set already holds this video (same features).

    Raises:
        ValueError: If ``features`` is empty.
        TransientError: If another import into the same set ran at the same time (retry).

    """
    if not features:
        raise ValueError("a vPDQ hash needs at least one frame")
    key = digest(features)
    try:
        with store.session() as s:
            hash_set = s.execute(select(HashSet).where(HashSet.name == name)).scalar_one_or_none()
            if hash_set is None:
                hash_set = HashSet(name=name, source=source, enabled=True, created_at=utcnow())
                s.add(hash_set)
                s.flush()
            known = s.execute(
                select(VpdqVideo.id).where(VpdqVideo.hash_set_id == hash_set.id, VpdqVideo.digest == key)
            ).scalar_one_or_none()
            if known is not None:
                return None
            video = VpdqVideo(hash_set_id=hash_set.id, digest=key, label=label, classification=classification,
                              source=source, frame_count=len(features), added_at=utcnow())
            s.add(video)
            s.flush()
            s.add_all(
                VpdqFrame(video_id=video.id, frame_number=f.frame_number, quality=f.quality, pdq=f.pdq,
                          timestamp=f.timestamp)
                for f in features
            )
            return int(video.id)
    except IntegrityError as exc:
        raise TransientError(f"concurrent change to hash set {name!r}; retry") from exc


def known_videos(store: Store) -> list[KnownVideo]:
    """Every vPDQ entry of the enabled sets, with its frames in file order."""
    with store.session() as s:
        conn = s.connection()
        videos = conn.execute(
            select(VpdqVideo.id, HashSet.name, VpdqVideo.label, VpdqVideo.classification)
            .join(HashSet, HashSet.id == VpdqVideo.hash_set_id)
            .where(HashSet.enabled.is_(True))
            .order_by(VpdqVideo.id)
        ).all()
        frames: dict[int, list[VpdqFeature]] = {int(v[0]): [] for v in videos}
        rows = conn.execute(
            select(VpdqFrame.video_id, VpdqFrame.frame_number, VpdqFrame.quality, VpdqFrame.pdq, VpdqFrame.timestamp)
            .where(VpdqFrame.video_id.in_(list(frames)))
            .order_by(VpdqFrame.video_id, VpdqFrame.id)
        ).all() if frames else []
    for video_id, number, quality, pdq_hex, timestamp in rows:
        frames[int(video_id)].append(VpdqFeature(int(number), int(quality), pdq_hex, float(timestamp)))
    return [KnownVideo(int(i), name, label, klass, tuple(frames[int(i)])) for i, name, label, klass in videos]


class VpdqMatcher:
    """Matches crawled videos' features against the known vPDQ videos of the store.

    Args:
        store: The shared store.
        settings: vPDQ's distance, quality floor and two thresholds.

    """

    def __init__(self, store: Store, settings: VpdqSettings) -> None:
        self.store = store
        self.settings = settings
        self.videos: list[KnownVideo] = []

    def load(self) -> int:
        """Read the known videos from the store; returns how many."""
        self.videos = known_videos(self.store)
        return len(self.videos)

    def match(self, features: Sequence[VpdqFeature]) -> list[VpdqHit]:
        """The known videos that ``features`` match by vPDQ's rule, best (highest smaller share) first."""
        hits = []
        for video in self.videos:
            found = score(features, video.features, self.settings)
            if found.matches(self.settings):
                hits.append(VpdqHit(video, found))
        return sorted(hits, key=lambda h: -min(h.score.query_percent, h.score.target_percent))

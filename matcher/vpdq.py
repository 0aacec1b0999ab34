"""Matcher, video: known videos given as vPDQ hashes, stored per entry and matched with vPDQ's two-way rule.

A vPDQ hash (see :mod:`hashing.vpdq`) is a video's per-frame PDQ with quality and timestamp. vPDQ
does not look a video up by one code: it compares two videos' frame sets. Both sides drop frames
below a quality floor and repeated PDQ values; then the share of the crawled (query) video's
frames that lie within ``distance`` bits of some frame of the known (target) video, and the share
of the target's frames within ``distance`` of some query frame, must both reach their thresholds
(:class:`~matcher.settings.VpdqSettings`). python-threatexchange counts a frame pair at distance
``<= distance`` (the C++ tool at ``< distance``); orbweaver follows the Python signal, which HMA runs.

Each known video is one ``hash_entries`` row (algorithm ``vpdq``, a :data:`~hashing.registry.VIDEO_SIGNALS`
name the indexes skip; value :func:`digest`), so matches, review items and the review page name it
like any entry; its frames hang off it in ``vpdq_videos``/``vpdq_frames``. The matcher
(:class:`matcher.engine.Matcher`) runs :class:`VpdqMatcher` on the frame hashes of each crawled
video and reports a hit as a :class:`~core.messages.MatchHit` (:func:`hit_of`).

Lists of videos are small beside image lists (thousands, not millions), and a crawled video has
tens of frames, so the comparison is a vectorised brute-force scan, as vPDQ's own matcher does.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import TransientError
from core.messages import MatchHit, utcnow
from core.store import Store
from core.store.tables.matcher import HashEntry, HashSet, VpdqFrame, VpdqVideo
from hashing.vpdq import VPDQ, VpdqFeature, dedupe, write_vpdq
from matcher.hashsets import ImportResult, announce_added, in_scope
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
    """The ``hash_entries`` id (what matches and review items name)."""
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
                 classification: str | None = None, source: str | None = None) -> ImportResult:
    """Add one known video to set ``name`` (created if missing): its ``vpdq`` entry and its frames.

    Returns:
        What changed: one added entry id (and the announcement to publish), or a duplicate if the
        set already holds this video (same features).

    Raises:
        ValueError: If ``features`` is empty.
        TransientError: If another import into the same set ran at the same time (retry).

    """
    if not features:
        raise ValueError("a vPDQ hash needs at least one frame")
    key = digest(features)
    now = utcnow()
    try:
        with store.session() as s:
            hash_set = s.execute(select(HashSet).where(HashSet.name == name)).scalar_one_or_none()
            if hash_set is None:
                hash_set = HashSet(name=name, source=source, enabled=True, created_at=now)
                s.add(hash_set)
                s.flush()
            known = s.execute(select(HashEntry.id).where(
                HashEntry.hash_set_id == hash_set.id, HashEntry.algorithm == VPDQ.name, HashEntry.value == key
            )).scalar_one_or_none()
            if known is not None:
                return ImportResult(added=0, duplicates=1)
            entry = HashEntry(hash_set_id=hash_set.id, algorithm=VPDQ.name, value=key, label=label,
                              classification=classification, source=source, added_at=now, version=VPDQ.version)
            s.add(entry)
            s.flush()
            video = VpdqVideo(hash_set_id=hash_set.id, hash_entry_id=entry.id, frame_count=len(features), added_at=now)
            s.add(video)
            s.flush()
            s.add_all(
                VpdqFrame(video_id=video.id, frame_number=f.frame_number, quality=f.quality, pdq=f.pdq,
                          timestamp=f.timestamp)
                for f in features
            )
            changes = announce_added(s, hash_set, [entry.id])
            return ImportResult(added=1, duplicates=0, added_ids=[int(entry.id)], changes=changes)
    except IntegrityError as exc:
        raise TransientError(f"concurrent change to hash set {name!r}; retry") from exc


def known_videos(store: Store, *, sets: Collection[str] | None = None, enabled_only: bool = True) -> list[KnownVideo]:
    """The vPDQ entries (of enabled sets, or of ``sets`` when given), with their frames in file order."""
    query = (
        select(HashEntry.id, VpdqVideo.id, HashSet.name, HashEntry.label, HashEntry.classification)
        .join(VpdqVideo, VpdqVideo.hash_entry_id == HashEntry.id)
        .join(HashSet, HashSet.id == HashEntry.hash_set_id)
        .where(HashEntry.algorithm == VPDQ.name, HashEntry.version == VPDQ.version)
        .order_by(HashEntry.id)
    )
    query = in_scope(query, sets, enabled_only)
    with store.session() as s:
        conn = s.connection()
        videos = conn.execute(query).all()
        frames: dict[int, list[VpdqFeature]] = {int(v[1]): [] for v in videos}
        rows = conn.execute(
            select(VpdqFrame.video_id, VpdqFrame.frame_number, VpdqFrame.quality, VpdqFrame.pdq, VpdqFrame.timestamp)
            .where(VpdqFrame.video_id.in_(list(frames)))
            .order_by(VpdqFrame.video_id, VpdqFrame.id)
        ).all() if frames else []
    for video_id, number, quality, pdq_hex, timestamp in rows:
        frames[int(video_id)].append(VpdqFeature(int(number), int(quality), pdq_hex, float(timestamp)))
    return [KnownVideo(int(entry), name, label, klass, tuple(frames[int(video)]))
            for entry, video, name, label, klass in videos]


def hit_of(hit: VpdqHit, query: Sequence[VpdqFeature]) -> MatchHit:
    """A vPDQ hit as the matcher reports hits: on the video's entry, with both shares in its variant.

    The distance is the smaller share's shortfall from 100 % (0: every frame matched both ways), in
    whole points rounded up, so a share of at least X % is a distance of at most 100 - X.
    """
    q, t = hit.score.query_percent, hit.score.target_percent
    return MatchHit(
        algorithm=VPDQ.name,
        distance=math.ceil(100.0 - min(q, t) - 1e-9),
        hash_set=hit.video.hash_set,
        entry_id=hit.video.id,
        entry_label=hit.video.label,
        classification=hit.video.classification,
        query_hash=digest(query),
        variant=f"vpdq:query={q:.1f}%,target={t:.1f}%",
    )


class VpdqMatcher:
    """Matches crawled videos' features against the known vPDQ videos of the store.

    Args:
        store: The shared store.
        settings: vPDQ's distance, quality floor and two thresholds.
        sets: Match only these sets, whether enabled or not; None matches every enabled set.

    """

    def __init__(self, store: Store, settings: VpdqSettings, *, sets: Collection[str] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.scope = frozenset(sets) if sets is not None else None
        self.videos: list[KnownVideo] = []

    def load(self) -> int:
        """Read the known videos from the store; returns how many."""
        self.videos = known_videos(self.store, sets=self.scope, enabled_only=self.scope is None)
        return len(self.videos)

    def holds_any(self, entry_ids: Iterable[int]) -> bool:
        """Whether any of ``entry_ids`` is a video held now (a removal that concerns this matcher)."""
        wanted = set(entry_ids)
        return any(v.id in wanted for v in self.videos)

    def match(self, features: Sequence[VpdqFeature]) -> list[VpdqHit]:
        """The known videos that ``features`` match by vPDQ's rule, best (highest smaller share) first."""
        hits = []
        for video in self.videos:
            found = score(features, video.features, self.settings)
            if found.matches(self.settings):
                hits.append(VpdqHit(video, found))
        return sorted(hits, key=lambda h: -min(h.score.query_percent, h.score.target_percent))

"""Hashing stage, video: vPDQ features (per-frame PDQ with quality and timestamp), read, written and computed.

vPDQ (Meta's video PDQ, ThreatExchange ``vpdq/``) describes a video by the PDQ of its frames taken
at a fixed interval (one a second by default), each annotated with its frame number, its PDQ
quality (0-100) and its time in seconds. Its file form, which HMA and the ``vpdq`` tools exchange,
is one line per frame: ``frame_number,quality,pdq_hex,timestamp``.

Here orbweaver's own PDQ (:class:`hashing.algorithms.Pdq`) hashes frames sampled by
:func:`hashing.video.sample_frames` at the vPDQ interval, so a fetched video gets features that
compare with a list's vPDQ hashes (matching: :mod:`matcher.vpdq`). Like vPDQ's hash files, a
video's features keep every sampled frame; repeated PDQ values are dropped when matching
(:func:`dedupe`), as vPDQ's matcher does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.messages import HashValue
from hashing.algorithms import Pdq
from hashing.base import is_hex
from hashing.decode import Deadline
from hashing.video import VideoLimits, sample_frames

SECONDS_PER_HASH = 1.0
"""vPDQ's default interval between hashed frames."""



@dataclass(frozen=True, slots=True)
class VideoSignal:
    """A hash of a whole video, stored as one list entry but matched by its own rule, not by an index.

    The entry's value is a digest naming the video's hash (its frames live beside it), so the MIH and
    exact indexes, which the hashing registry's :data:`~hashing.registry.ALGORITHMS` feed, never see it.
    """

    name: str
    """Storage key of the entries (``hash_entries.algorithm``); never changes."""
    version: int
    """Bumped when the same video could hash differently."""
    bits: int
    """Width of the digest value (hex: ``bits // 4`` digits)."""


VPDQ = VideoSignal("vpdq", 1, 256)
"""vPDQ: the entry's value is the SHA-256 of the video's vPDQ hash text (``matcher.vpdq.digest``)."""

_FRAME_VARIANT = re.compile(r"^frame@(\d+(?:\.\d+)?)s$")


@dataclass(frozen=True, slots=True)
class VpdqFeature:
    """One hashed frame of a video, as a vPDQ hash line holds it."""

    frame_number: int
    quality: int
    """PDQ quality, 0-100."""
    pdq: str
    """64 lowercase hex digits."""
    timestamp: float
    """Seconds from the start."""

    def __post_init__(self) -> None:
        if self.frame_number < 0:
            raise ValueError(f"frame number {self.frame_number} is negative")
        if not 0 <= self.quality <= 100:
            raise ValueError(f"quality {self.quality} is not in 0..100")
        if len(self.pdq) != Pdq.hex_len() or not is_hex(self.pdq) or self.pdq != self.pdq.lower():
            raise ValueError(f"not a PDQ hash in lowercase hex: {self.pdq[:80]!r}")
        if not math.isfinite(self.timestamp) or self.timestamp < 0:
            raise ValueError(f"timestamp {self.timestamp} is not a time in seconds")

    def line(self) -> str:
        """The feature as one line of a vPDQ hash file (no line end)."""
        return f"{self.frame_number},{self.quality},{self.pdq},{self.timestamp:.3f}"

    @classmethod
    def from_line(cls, line: str) -> VpdqFeature:
        """Read one ``frame_number,quality,pdq_hex,timestamp`` line.

        Raises:
            ValueError: With the reason, if the line is not a vPDQ feature.

        """
        cells = [c.strip() for c in line.strip().split(",")]
        if len(cells) != 4:
            raise ValueError(f"needs 4 comma-separated cells (frame,quality,pdq,timestamp), not {len(cells)}")
        frame, quality, pdq_hex, timestamp = cells
        if not frame.isdigit() or not quality.isdigit():
            raise ValueError("frame number and quality must be whole numbers")
        try:
            seconds = float(timestamp)
        except ValueError:
            raise ValueError(f"timestamp is not a number: {timestamp[:40]!r}") from None
        return cls(int(frame), int(quality), pdq_hex.lower(), seconds)


def looks_like_vpdq(line: str) -> bool:
    """Whether a line reads as a vPDQ feature."""
    try:
        VpdqFeature.from_line(line)
    except ValueError:
        return False
    return True


def write_vpdq(features: Iterable[VpdqFeature]) -> str:
    """A vPDQ hash file's text: one line per feature."""
    return "".join(f"{f.line()}\n" for f in features)


def dedupe(features: Iterable[VpdqFeature]) -> list[VpdqFeature]:
    """The features in order, each PDQ value kept only the first time it shows (as vPDQ's matcher counts)."""
    seen: set[str] = set()
    out: list[VpdqFeature] = []
    for feature in features:
        if feature.pdq not in seen:
            seen.add(feature.pdq)
            out.append(feature)
    return out


def features_from_hashes(hashes: Sequence[HashValue]) -> list[VpdqFeature]:
    """The vPDQ features of a hashed video: its PDQ frame hashes (variants ``frame@<t>s``), deduped.

    The frame number is the frame's order among them (a message carries no decoder frame numbers;
    vPDQ's matching ignores them).
    """
    frames: list[VpdqFeature] = []
    for h in hashes:
        found = _FRAME_VARIANT.match(h.variant)
        if h.algorithm != Pdq.name or h.version != Pdq.version or found is None:
            continue
        frames.append(VpdqFeature(len(frames), h.quality or 0, h.value, float(found.group(1))))
    return dedupe(frames)


def hash_video(data: bytes, *, seconds_per_hash: float = SECONDS_PER_HASH, limits: VideoLimits | None = None,
               deadline: Deadline | None = None) -> list[VpdqFeature]:
    """VPDQ features of a video body: orbweaver's PDQ of one frame per ``seconds_per_hash``.

    Frame numbers count the hashed frames (0, 1, 2...), where vpdq numbers decoder frames (0, 25,
    50... at 25 fps); vPDQ's matching reads neither.

    Args:
        data: The video's bytes (read from memory).
        seconds_per_hash: Interval between hashed frames (vPDQ's default: 1 s).
        limits: Size, duration and time limits (their sampling interval is replaced by
            ``seconds_per_hash``, and scene-change sampling is off: vPDQ samples by time only).
        deadline: Budget for the whole video (default: the limits' ``time_limit_s``).

    Raises:
        MediaDecodeError: As :func:`hashing.video.sample_frames`.

    """
    base = limits or VideoLimits()
    # vPDQ samples by time alone; a scene threshold of 2 (the largest) never fires.
    chosen = VideoLimits(
        max_bytes=base.max_bytes,
        max_pixels=base.max_pixels,
        max_duration_s=base.max_duration_s,
        max_frames=max(base.max_frames, math.ceil(base.max_duration_s / seconds_per_hash) + 1),
        frame_interval_s=seconds_per_hash,
        scene_threshold=2.0,
        working_size=base.working_size,
        time_limit_s=base.time_limit_s,
    )
    frames = list(sample_frames(data, chosen, deadline or Deadline(chosen.time_limit_s)))
    values = Pdq().hash_rasters([f.raster for f in frames])
    return [
        VpdqFeature(i, v.quality or 0, v.value, round(f.time_s, 3))
        for i, (f, v) in enumerate(zip(frames, values, strict=True))
    ]

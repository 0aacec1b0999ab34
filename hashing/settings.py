"""Hashing stage settings: which algorithms run, what the decoder refuses, and how variants are sampled."""

from __future__ import annotations

from pydantic import Field, field_validator

from core.settings import Section
from hashing import video
from hashing.decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DECODE_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_TIME_LIMIT_S,
    DEFAULT_WORKING_SIZE,
    DecodeLimits,
)
from hashing.hasher import HashPlan
from hashing.registry import ALGORITHMS, DEFAULT_ALGORITHMS


class HashingSettings(Section):
    """The ``[hashing]`` section."""

    algorithms: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALGORITHMS),
        min_length=1,
        description="Registered hash algorithms to compute for every body.",
    )
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        gt=0,
        description="Largest image body to decode; bigger bodies still get their exact hashes.",
    )
    max_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS,
        gt=0,
        description=(
            "Largest width x height to decode (images and video frames), checked from the header before "
            "decoding (decompression-bomb guard; Pillow's own limit of ~89.5 M pixels caps it)."
        ),
    )
    max_decode_bytes: int = Field(
        default=DEFAULT_MAX_DECODE_BYTES,
        gt=0,
        description=(
            "Most memory one image decode may need (pixels x channels x bytes per sample, plus a float64 copy "
            "for 16-bit and float images), checked from the header before decoding."
        ),
    )
    working_size: int = Field(
        default=DEFAULT_WORKING_SIZE,
        ge=32,
        description="Shorter side, in pixels, that reduced decoding keeps at least (JPEG DCT scaling, integer reduce).",
    )
    time_limit_s: float = Field(
        default=DEFAULT_TIME_LIMIT_S,
        gt=0,
        description=(
            "Per-image budget for decoding and hashing; past it the item gets a 'timeout' error, and past "
            "1.25 times it the process decoding it is killed (the item keeps its exact hashes)."
        ),
    )
    workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description=(
            "Decoding processes of the hash command and of the API server (reused; one that overruns an item is "
            "killed and replaced). A hashing stage runs one: it hashes one message at a time."
        ),
    )
    dihedral: bool = Field(
        default=True,
        description="Also emit PDQ's seven rotated/flipped hashes (variant 'pdq-dihedral:<name>').",
    )
    animation_interval_s: float = Field(
        default=1.0, gt=0, description="Sample an animated GIF/WebP frame this often (play time)."
    )
    animation_max_frames: int = Field(
        default=16, ge=0, description="Sample at most this many animation frames besides the first (0: none)."
    )
    video_max_bytes: int = Field(default=video.DEFAULT_MAX_BYTES, gt=0, description="Largest video body to open.")
    video_max_duration_s: float = Field(
        default=video.DEFAULT_MAX_DURATION_S, gt=0, description="Read at most this much of a video."
    )
    video_max_frames: int = Field(
        default=video.DEFAULT_MAX_FRAMES, gt=0, description="Sample at most this many frames of a video."
    )
    video_frame_interval_s: float = Field(
        default=video.DEFAULT_FRAME_INTERVAL_S, gt=0, description="Sample a video frame at least this often."
    )
    video_scene_threshold: float = Field(
        default=video.DEFAULT_SCENE_THRESHOLD,
        gt=0,
        le=2,
        description="Also sample a video frame when its standardised thumbnail moved by more than this (0-2).",
    )
    video_time_limit_s: float = Field(
        default=video.DEFAULT_TIME_LIMIT_S,
        gt=0,
        description="Per-video budget; past it the frames sampled so far are kept and a 'timeout' error added.",
    )
    cache_size: int = Field(
        default=4096,
        ge=0,
        description="Distinct SHA-256s whose hashes the stage keeps in memory (besides the store).",
    )

    @field_validator("algorithms")
    @classmethod
    def _known_and_unique(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in ALGORITHMS]
        if unknown:
            raise ValueError(f"unknown hash algorithm(s) {unknown}; known: {', '.join(sorted(ALGORITHMS))}")
        if len(set(names)) != len(names):
            raise ValueError("an algorithm is listed twice")
        return names

    def limits(self) -> DecodeLimits:
        """Build the decoder limits these settings describe."""
        return DecodeLimits(
            max_bytes=self.max_bytes,
            max_pixels=self.max_pixels,
            working_size=self.working_size,
            time_limit_s=self.time_limit_s,
            max_decode_bytes=self.max_decode_bytes,
        )

    def plan(self) -> HashPlan:
        """Build the hashing plan these settings describe."""
        return HashPlan(
            algorithms=tuple(self.algorithms),
            limits=self.limits(),
            video=video.VideoLimits(
                max_bytes=self.video_max_bytes,
                max_pixels=self.max_pixels,
                max_duration_s=self.video_max_duration_s,
                max_frames=self.video_max_frames,
                frame_interval_s=self.video_frame_interval_s,
                scene_threshold=self.video_scene_threshold,
                working_size=self.working_size,
                time_limit_s=self.video_time_limit_s,
            ),
            dihedral=self.dihedral,
            animation_interval_s=self.animation_interval_s,
            animation_max_frames=self.animation_max_frames,
        )

"""Hashing stage settings: which algorithms run and what the decoder refuses."""

from __future__ import annotations

from pydantic import Field, field_validator

from core.settings import Section
from hashing.decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_WORKING_SIZE,
    DecodeLimits,
)
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
        description="Largest body to decode; bigger bodies still get their exact hashes.",
    )
    max_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS,
        gt=0,
        description=(
            "Largest width x height to decode, checked from the header before decoding "
            "(decompression-bomb guard; Pillow's own limit of ~89.5 M pixels caps it)."
        ),
    )
    working_size: int = Field(
        default=DEFAULT_WORKING_SIZE,
        ge=32,
        description="Longest side, in pixels, of the image handed to perceptual hashes.",
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
        return DecodeLimits(max_bytes=self.max_bytes, max_pixels=self.max_pixels, working_size=self.working_size)

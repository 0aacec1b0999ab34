"""Matcher settings: review radius per perceptual algorithm and the index implementation."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from core.settings import Section
from matcher.algorithms import SPECS, parse_algorithm


def _default_radius() -> dict[str, int]:
    # PDQ 31/256 is the threshold ThreatExchange and the PDQ paper recommend for review;
    # 8/64 is the customary near-duplicate threshold for DCT pHash.
    return {"pdq": 31, "phash": 8}


class MatcherSettings(Section):
    """How the matcher compares media hashes with the known lists."""

    radius: dict[str, int] = Field(
        default_factory=_default_radius,
        description=(
            "Review radius (largest Hamming distance that is a match) per perceptual algorithm; "
            "exact algorithms (md5, sha1, sha256) always use 0."
        ),
    )
    index: str = Field(
        default="auto",
        description=(
            "Index for perceptual hashes: auto (flat below 2M entries, multi-hash above), "
            "faiss-flat or faiss-multihash."
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

    @field_validator("radius")
    @classmethod
    def _check_radius(cls, value: dict[str, int]) -> dict[str, int]:
        checked = _default_radius()
        for name, radius in value.items():
            algo = parse_algorithm(name)
            if algo is None:
                raise ValueError(f"unknown hash algorithm {name!r}")
            spec = SPECS[algo]
            if not spec.perceptual:
                raise ValueError(f"{algo.value} is an exact hash; its radius is always 0")
            if not 0 <= radius <= spec.bits:
                raise ValueError(f"{algo.value} radius must be within 0..{spec.bits}")
            checked[algo.value] = radius
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

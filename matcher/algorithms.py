"""Matcher vocabulary: the hash algorithms a known list can hold, as storage keys with their sizes.

The hashing stage produces these names; the matcher keeps its own small table so it never
depends on hashing code, only on the names and sizes that travel in messages and lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class HashAlgorithm(StrEnum):
    """Hash algorithms known to the matcher. The values are storage keys: never rename one."""

    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    PDQ = "pdq"
    PHASH = "phash"


@dataclass(frozen=True, slots=True)
class AlgorithmSpec:
    """Size and kind of one hash algorithm.

    Attributes:
        bits: Length of the hash in bits.
        perceptual: True when near values mean similar media (Hamming radius > 0 makes sense).

    """

    bits: int
    perceptual: bool

    @property
    def hex_len(self) -> int:
        """Number of hex characters in one value."""
        return self.bits // 4


SPECS: dict[HashAlgorithm, AlgorithmSpec] = {
    HashAlgorithm.MD5: AlgorithmSpec(bits=128, perceptual=False),
    HashAlgorithm.SHA1: AlgorithmSpec(bits=160, perceptual=False),
    HashAlgorithm.SHA256: AlgorithmSpec(bits=256, perceptual=False),
    HashAlgorithm.PDQ: AlgorithmSpec(bits=256, perceptual=True),
    HashAlgorithm.PHASH: AlgorithmSpec(bits=64, perceptual=True),
}

_HEX = re.compile(r"[0-9a-f]*")


def is_hex(text: str) -> bool:
    """Whether ``text`` is lowercase hex with an even number of digits (or empty)."""
    return len(text) % 2 == 0 and _HEX.fullmatch(text) is not None


def parse_algorithm(name: str) -> HashAlgorithm | None:
    """Look up the algorithm called ``name`` (any case); ``None`` if it is unknown."""
    try:
        return HashAlgorithm(name.strip().lower())
    except ValueError:
        return None


def hex_to_codes(values: list[str], nbytes: int) -> npt.NDArray[np.uint8]:
    """Pack equal-length hex strings into an ``(n, nbytes)`` array of bytes.

    Joining first and converting once keeps a 100k-entry reload well under a second.

    Raises:
        ValueError: If a value is not hex or not ``2 * nbytes`` characters long.

    """
    for value in values:
        if len(value) != 2 * nbytes:
            raise ValueError(f"hash {value!r} is not {2 * nbytes} hex characters")
    raw = bytes.fromhex("".join(values))
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), nbytes)

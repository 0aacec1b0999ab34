"""Matcher interface: what a known-hash index is, so FAISS and exact indexes plug in by name.

An index maps integer entry ids (the store's ``hash_entries.id``) to fixed-size binary codes
and answers Hamming range queries. Every implementation is held to the same brute-force oracle
by ``tests/contract/test_match_indexes.py``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from core.errors import PermanentError

FORMAT_VERSION = 1
"""Version of the on-disk layout (FAISS file plus JSON sidecar); bumped on any change."""

SIDECAR = "index.json"
"""Name of the JSON sidecar inside an index folder."""

Ids = npt.NDArray[np.int64]
Codes = npt.NDArray[np.uint8]
Hits = list[list[tuple[int, int]]]
"""Per query row: ``(entry id, Hamming distance)`` pairs, sorted by distance then id."""


class IndexAbility(StrEnum):
    """What an index can do beyond storing codes. Values are stable names for docs and checks."""

    NEAR = "near"
    """Answers Hamming range queries with a radius above 0 (perceptual hashes). Without it the
    radius is ignored and only identical codes (distance 0) are returned."""


class IndexFormatError(PermanentError):
    """A saved index folder that this build cannot read (missing files, wrong version or name)."""


class MatchIndex(ABC):
    """A searchable set of ``(entry id, binary code)`` pairs of one bit length.

    Ids are unique inside an index: adding an id that is already present replaces its code
    (so replaying a change is harmless). Duplicate *codes* under different ids are kept and
    all returned. Instances are not thread-safe; the :class:`~matcher.engine.Matcher`
    serialises access.

    Args:
        bits: Code length in bits (a multiple of 8).
        radius_hint: The radius most queries will use; indexes that tune themselves for a
            radius (multi-hash) use it, others ignore it.

    """

    name: ClassVar[str]
    """Explicit storage key of the implementation: written into saved sidecars, never renamed."""
    abilities: ClassVar[frozenset[IndexAbility]]

    def __init__(self, bits: int, *, radius_hint: int | None = None) -> None:
        if bits <= 0 or bits % 8:
            raise ValueError(f"code length must be a positive multiple of 8 bits, not {bits}")
        self.bits = bits
        self.radius_hint = radius_hint

    @property
    def nbytes(self) -> int:
        """Bytes per code."""
        return self.bits // 8

    @abstractmethod
    def build(self, ids: Ids, codes: Codes) -> None:
        """Replace the whole content with ``ids`` and their ``codes`` (shape ``(n, nbytes)``)."""

    @abstractmethod
    def add(self, ids: Ids, codes: Codes) -> None:
        """Add entries; an id already present gets the new code."""

    @abstractmethod
    def remove(self, ids: Ids) -> None:
        """Forget entries; ids that are not present are ignored."""

    @abstractmethod
    def query(self, codes: Codes, radius: int) -> Hits:
        """Every entry within Hamming distance ``radius`` (inclusive) of each query code.

        Args:
            codes: Query codes, shape ``(m, nbytes)``.
            radius: Largest distance returned (ignored by indexes without ``NEAR``).

        Returns:
            One list per query row of ``(entry id, distance)``, sorted by distance then id.

        """

    @abstractmethod
    def __len__(self) -> int:
        """Count the live entries."""

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (created if missing) in open formats, never pickle."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path) -> Self:
        """Read an index written by :meth:`save` of the same implementation.

        Raises:
            IndexFormatError: If the folder does not hold a readable index of this kind.

        """

    # Shared helpers for implementations.

    def _check_ids_codes(self, ids: Ids, codes: Codes) -> tuple[Ids, Codes]:
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        codes = self._check_codes(codes)
        if len(ids) != len(codes):
            raise ValueError(f"{len(ids)} ids for {len(codes)} codes")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("ids repeat within one call")
        return ids, codes

    def _check_codes(self, codes: Codes) -> Codes:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] != self.nbytes:
            raise ValueError(f"codes must have shape (n, {self.nbytes}), not {codes.shape}")
        return codes

    def _write_sidecar(self, folder: Path, ids: Ids, extra: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        doc = {
            "format_version": FORMAT_VERSION,
            "index": self.name,
            "bits": self.bits,
            "radius_hint": self.radius_hint,
            "ids": [int(i) for i in ids],
            **extra,
        }
        tmp = folder / (SIDECAR + ".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        tmp.replace(folder / SIDECAR)

    @classmethod
    def _read_sidecar(cls, folder: Path) -> dict[str, Any]:
        try:
            doc = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise IndexFormatError(f"no {SIDECAR} in {folder}") from exc
        except json.JSONDecodeError as exc:
            raise IndexFormatError(f"{folder / SIDECAR} is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise IndexFormatError(f"{folder / SIDECAR} is not a JSON object")
        if doc.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"index format {doc.get('format_version')!r} in {folder} is not supported "
                f"(this build reads {FORMAT_VERSION})"
            )
        if doc.get("index") != cls.name:
            raise IndexFormatError(f"{folder} holds a {doc.get('index')!r} index, not {cls.name!r}")
        bits, ids, hint = doc.get("bits"), doc.get("ids"), doc.get("radius_hint")
        if not isinstance(bits, int) or bits <= 0 or bits % 8:
            raise IndexFormatError(f"{folder / SIDECAR} has no valid 'bits'")
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise IndexFormatError(f"{folder / SIDECAR} has no valid 'ids' list")
        if hint is not None and not isinstance(hint, int):
            raise IndexFormatError(f"{folder / SIDECAR} has an invalid 'radius_hint'")
        return doc


def read_index_name(folder: Path) -> str:
    """Read the implementation name recorded in a saved index folder.

    Raises:
        IndexFormatError: If the sidecar is missing or unreadable.

    """
    try:
        doc = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"no readable {SIDECAR} in {folder}: {exc}") from exc
    name = doc.get("index") if isinstance(doc, dict) else None
    if not isinstance(name, str):
        raise IndexFormatError(f"{folder / SIDECAR} names no index")
    return name

"""Matcher core: one index per hash algorithm over the enabled known lists, queried per media item.

Perceptual hashes (pdq, phash) go to the configured :class:`~matcher.base.MatchIndex` and match
within the algorithm's review radius; exact hashes (md5, sha1, sha256) go to an
:class:`~matcher.indexes.ExactIndex` and match only when identical.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import PermanentError
from core.messages import HashValue, MatchHit
from core.store import Store
from matcher.algorithms import SPECS, HashAlgorithm, hex_to_codes, is_hex, parse_algorithm
from matcher.base import Codes, Ids, MatchIndex
from matcher.hashsets import KnownEntry, enabled_entries
from matcher.indexes import ExactIndex
from matcher.registry import create_index
from matcher.settings import MatcherSettings


@dataclass(slots=True)
class _AlgorithmIndex:
    """The index of one algorithm and the entries behind its ids."""

    algorithm: HashAlgorithm
    radius: int
    index: MatchIndex
    entries: dict[int, KnownEntry]


def _by_algorithm(entries: Iterable[KnownEntry]) -> dict[HashAlgorithm, list[KnownEntry]]:
    """Group entries by algorithm, dropping algorithms the matcher does not know."""
    groups: dict[str, list[KnownEntry]] = defaultdict(list)
    for entry in entries:
        groups[entry.algorithm].append(entry)
    known: dict[HashAlgorithm, list[KnownEntry]] = defaultdict(list)
    for name, group in groups.items():
        algo = parse_algorithm(name)
        if algo is not None:
            known[algo].extend(group)
    return known


class Matcher:
    """Matches media hashes against every enabled known hash set.

    ``match`` and ``apply`` hold one lock (FAISS indexes are not safe to query while they
    change); ``reload`` builds the new indexes outside it and swaps them in, so matching
    continues during a reload.

    Args:
        store: The shared store holding the hash sets.
        settings: Radii and index choice; defaults when omitted.

    """

    def __init__(self, store: Store, settings: MatcherSettings | None = None) -> None:
        self.store = store
        self.settings = settings or MatcherSettings()
        self._lock = threading.Lock()
        self._indexes: dict[HashAlgorithm, _AlgorithmIndex] = {}

    def radius(self, algorithm: HashAlgorithm) -> int:
        """Review radius of ``algorithm`` (0 for exact hashes)."""
        if not SPECS[algorithm].perceptual:
            return 0
        return self.settings.radius.get(algorithm.value, 0)

    def _new_index(self, algorithm: HashAlgorithm) -> _AlgorithmIndex:
        spec = SPECS[algorithm]
        radius = self.radius(algorithm)
        index: MatchIndex
        if spec.perceptual:
            index = create_index(self.settings.index, spec.bits, radius_hint=radius)
        else:
            index = ExactIndex(spec.bits)
        return _AlgorithmIndex(algorithm, radius, index, {})

    def _build(self, entries: Iterable[KnownEntry]) -> dict[HashAlgorithm, _AlgorithmIndex]:
        groups = _by_algorithm(entries)
        built: dict[HashAlgorithm, _AlgorithmIndex] = {}
        for algo, group in groups.items():
            held = self._new_index(algo)
            ids, codes = self._codes(algo, group)
            held.index.build(ids, codes)
            held.entries = {e.id: e for e in group}
            built[algo] = held
        return built

    @staticmethod
    def _codes(algo: HashAlgorithm, group: Sequence[KnownEntry]) -> tuple[Ids, Codes]:
        try:
            codes = hex_to_codes([e.value for e in group], SPECS[algo].bits // 8)
        except ValueError as exc:
            raise PermanentError(f"stored {algo.value} entry is not a valid hash: {exc}") from exc
        return np.fromiter((e.id for e in group), dtype=np.int64, count=len(group)), codes

    def load(self) -> None:
        """Read every entry of the enabled sets and build the indexes (same as :meth:`reload`)."""
        self.reload()

    def reload(self) -> None:
        """Rebuild every index from the store and swap it in.

        Raises:
            TransientError: If the store is unavailable (the old indexes stay in use).

        """
        built = self._build(enabled_entries(self.store))
        with self._lock:
            self._indexes = built
            if self.settings.index_dir is not None:
                for algo, held in built.items():
                    held.index.save(self.settings.index_dir / algo.value)

    def apply(self, added: Iterable[KnownEntry], removed: Iterable[int]) -> None:
        """Change the loaded indexes in place without a full reload.

        Removals are applied first, so an id both removed and added ends up added. Entries of
        unknown algorithms are ignored. The caller passes only entries of enabled sets (see
        :func:`matcher.hashsets.enabled_entries`).

        Args:
            added: New (or changed) entries.
            removed: Ids of entries that no longer exist or whose set was disabled.

        """
        gone = np.fromiter(removed, dtype=np.int64)
        groups = _by_algorithm(added)
        prepared = {algo: self._codes(algo, group) for algo, group in groups.items()}
        with self._lock:
            if len(gone):
                for held in self._indexes.values():
                    present = [i for i in gone.tolist() if i in held.entries]
                    if present:
                        held.index.remove(np.asarray(present, dtype=np.int64))
                        for entry_id in present:
                            del held.entries[entry_id]
            for algo, (ids, codes) in prepared.items():
                target = self._indexes.get(algo)
                if target is None:
                    target = self._indexes[algo] = self._new_index(algo)
                target.index.add(ids, codes)
                target.entries.update((e.id, e) for e in groups[algo])

    def counts(self) -> dict[str, int]:
        """Count the loaded entries per algorithm."""
        with self._lock:
            return {algo.value: len(held.index) for algo, held in sorted(self._indexes.items())}

    def match(self, hashes: Sequence[HashValue]) -> list[MatchHit]:
        """Every known entry within its algorithm's radius of one media item's hashes.

        An entry reached by several hashes of the same algorithm (e.g. PDQ of rotated
        variants) is reported once, at its smallest distance.

        Args:
            hashes: The media's hashes; algorithms the matcher does not know are ignored.

        Returns:
            Hits best first: by distance as a share of the hash length, then algorithm,
            then entry id.

        Raises:
            PermanentError: If a hash of a known algorithm is not valid hex of its length.

        """
        wanted: dict[HashAlgorithm, list[str]] = defaultdict(list)
        for h in hashes:
            algo = parse_algorithm(h.algorithm)
            if algo is None:
                continue
            value = h.value.strip().lower()
            if len(value) != SPECS[algo].hex_len or not is_hex(value):
                raise PermanentError(f"{algo.value} hash {h.value[:80]!r} is not valid")
            if value not in wanted[algo]:
                wanted[algo].append(value)
        best: dict[tuple[HashAlgorithm, int], MatchHit] = {}
        with self._lock:
            for algo, values in wanted.items():
                held = self._indexes.get(algo)
                if held is None or not len(held.index):
                    continue
                codes = hex_to_codes(values, SPECS[algo].bits // 8)
                for value, hits in zip(values, held.index.query(codes, held.radius), strict=True):
                    for entry_id, distance in hits:
                        key = (algo, entry_id)
                        if key in best and best[key].distance <= distance:
                            continue
                        entry = held.entries[entry_id]
                        best[key] = MatchHit(
                            algorithm=algo.value,
                            distance=distance,
                            hash_set=entry.hash_set,
                            entry_id=entry_id,
                            entry_label=entry.label,
                            classification=entry.classification,
                            query_hash=value,
                        )
        return sorted(
            best.values(),
            key=lambda hit: (
                hit.distance / SPECS[HashAlgorithm(hit.algorithm)].bits,
                hit.algorithm,
                hit.entry_id,
            ),
        )

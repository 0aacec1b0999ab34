"""Matcher indexes: FAISS binary indexes (flat, multi-hash) and an exact hash map (see also matcher/mih.py).

Every FAISS index here keeps its own arrays of entry ids, codes and a live flag per position:
FAISS labels are positions, so ids never have to fit FAISS's id maps and removal works the
same on every kind. Removal marks a tombstone that queries filter out; once tombstones pass
:data:`TOMBSTONE_FRACTION` of the positions the FAISS index is rebuilt from the live codes.

Range queries are inclusive (``distance <= radius``). FAISS's binary ``range_search`` returns
distances strictly below its radius, so it is always called with ``radius + 1``.
"""

from __future__ import annotations

import hashlib
import math
import os
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from core.optional import require
from matcher.base import Codes, Hits, Ids, IndexAbility, IndexFormatError, MatchIndex

TOMBSTONE_FRACTION = 0.25
"""Share of removed positions above which a FAISS index is rebuilt from its live entries."""

FAISS_FILE = "index.faissbin"
"""Name of the FAISS-serialised index inside an index folder."""

_MIN_REPLAN = 1024
"""Below this size a growing multi-hash index is not re-planned (a rebuild costs more)."""

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)

_Range = tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int64]]
"""FAISS range-search result: limits per query, distances, positions."""


def _faiss() -> Any:
    return require("faiss", "matcher")


def default_radius_hint(bits: int) -> int:
    """Give the radius an index tunes for by default: PDQ's usual 31 of 256 bits, scaled."""
    return bits * 31 // 256


def ids_in(held: Ids, ids: Ids) -> npt.NDArray[np.bool_]:
    """Which of ``held`` are among ``ids`` (both non-empty).

    Store ids are dense integers: a lookup table over their span is one linear pass, where
    numpy's default sorts all ids (a second per call at 10M entries).
    """
    if int(ids.max()) - int(ids.min()) < 50_000_000:
        return np.isin(held, ids, kind="table")
    return np.isin(held, ids)


def hamming_scan(base: Codes, queries: Codes, radius: int) -> _Range:
    """Brute-force inclusive Hamming range search, in FAISS's result layout.

    Used where a bucket search would cost more than a plain scan (very large radii).
    """
    lims = np.zeros(len(queries) + 1, dtype=np.uint64)
    dists: list[npt.NDArray[np.int64]] = []
    positions: list[npt.NDArray[np.int64]] = []
    for q, code in enumerate(queries):
        d = _POPCOUNT8[np.bitwise_xor(base, code)].sum(axis=1)
        hit = np.flatnonzero(d <= radius)
        positions.append(hit.astype(np.int64))
        dists.append(d[hit].astype(np.int64))
        lims[q + 1] = lims[q] + len(hit)
    if not positions:
        return lims, np.zeros(0, np.int64), np.zeros(0, np.int64)
    return lims, np.concatenate(dists), np.concatenate(positions)


@dataclass(frozen=True, slots=True)
class MultiHashPlan:
    """Shape of a FAISS ``IndexBinaryMultiHash``: ``nhash`` tables keyed by ``b``-bit substrings.

    Why it is exact: the ``nhash`` substrings are disjoint, so a code within distance ``r`` of
    the query differs in at most ``r // nhash`` bits on at least one of them (pigeonhole).
    Probing every bucket within ``nflip = r // nhash`` flips of each query substring therefore
    finds every true neighbour, and FAISS verifies each candidate on the full code. Results
    equal a brute-force scan for any radius; only the cost depends on the plan.
    """

    nhash: int
    b: int

    def nflip(self, radius: int) -> int:
        """Bit flips to probe per table for an exact answer at ``radius``."""
        return radius // self.nhash

    def probes(self, radius: int) -> int:
        """Buckets visited per query at ``radius``."""
        flips = min(self.nflip(radius), self.b)
        return self.nhash * sum(math.comb(self.b, k) for k in range(flips + 1))

    def cost(self, radius: int, n: int) -> float:
        """Estimated work per query: buckets probed plus candidates verified on uniform codes."""
        probes = self.probes(radius)
        return probes * (1.0 + n / 2.0**self.b)


def plan_multihash(bits: int, radius: int, n: int) -> MultiHashPlan:
    """Choose ``nhash`` and ``b`` for ``n`` codes of ``bits`` bits searched at ``radius``.

    Tries every substring width ``b`` from 8 to 32 (``nhash = bits // b``) and keeps the
    cheapest by :meth:`MultiHashPlan.cost`. For 256-bit PDQ at radius 31 and 20k to 1M entries
    this gives 16 tables of 16 bits probed with one flip; for 64-bit pHash at radius 8, 8 to 16
    bit tables depending on size.
    """
    best: MultiHashPlan | None = None
    for b in range(8, min(bits, 32) + 1):
        plan = MultiHashPlan(nhash=bits // b, b=b)
        if best is None or plan.cost(radius, n) < best.cost(radius, n):
            best = plan
    if best is None:  # fewer than 8 bits: one table over the whole code
        best = MultiHashPlan(nhash=1, b=bits)
    return best


class FaissBinaryIndex(MatchIndex):
    """Shared machinery of the FAISS-backed indexes: id/code arrays, tombstones, persistence."""

    abilities: ClassVar[frozenset[IndexAbility]] = frozenset({IndexAbility.NEAR})
    replan_on_growth: ClassVar[bool] = False
    """Rebuild after the index doubles in size, so a size-dependent layout stays well chosen."""

    def __init__(self, bits: int, *, radius_hint: int | None = None) -> None:
        super().__init__(bits, radius_hint=radius_hint)
        self._ids: Ids = np.zeros(0, dtype=np.int64)
        self._codes: Codes = np.zeros((0, self.nbytes), dtype=np.uint8)
        self._alive: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._dead = 0
        self._built_for = 0
        self._faiss: Any = None
        self._rebuild()

    @abstractmethod
    def _new_faiss(self, n: int) -> Any:
        """Create an empty FAISS binary index suited to ``n`` entries."""

    @property
    def native_kind(self) -> str:
        """Name of the FAISS index class in use (for logs and benchmarks)."""
        return str(type(self._faiss).__name__)

    @property
    def _radius(self) -> int:
        return self.radius_hint if self.radius_hint is not None else default_radius_hint(self.bits)

    def _rebuild(self) -> None:
        if self._dead:
            keep = self._alive
            self._ids, self._codes = self._ids[keep], self._codes[keep]
            self._alive = np.ones(len(self._ids), dtype=bool)
            self._dead = 0
        self._faiss = self._new_faiss(len(self._ids))
        if len(self._ids):
            self._faiss.add(self._codes)
        self._built_for = len(self._ids)

    def _kill(self, ids: Ids) -> None:
        if not len(ids) or not len(self._ids):
            return
        hit = np.isin(self._ids, ids) & self._alive
        self._alive[hit] = False
        self._dead += int(hit.sum())

    def _maybe_rebuild(self) -> None:
        total = len(self._ids)
        grown = self.replan_on_growth and total >= _MIN_REPLAN and total > 2 * max(self._built_for, _MIN_REPLAN // 2)
        if grown or self._dead > TOMBSTONE_FRACTION * max(total, 1):
            self._rebuild()

    def build(self, ids: Ids, codes: Codes) -> None:
        """Replace the whole content with ``ids`` and their ``codes``."""
        ids, codes = self._check_ids_codes(ids, codes)
        self._ids, self._codes = ids.copy(), codes.copy()
        self._alive = np.ones(len(ids), dtype=bool)
        self._dead = 0
        self._rebuild()

    def add(self, ids: Ids, codes: Codes) -> None:
        """Add entries; an id already present gets the new code."""
        ids, codes = self._check_ids_codes(ids, codes)
        if not len(ids):
            return
        self._kill(ids)
        self._ids = np.concatenate([self._ids, ids])
        self._codes = np.concatenate([self._codes, codes])
        self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])
        self._faiss.add(codes)
        self._maybe_rebuild()

    def remove(self, ids: Ids) -> None:
        """Forget entries; ids that are not present are ignored."""
        self._kill(np.asarray(ids, dtype=np.int64).reshape(-1))
        self._maybe_rebuild()

    def __len__(self) -> int:
        return len(self._ids) - self._dead

    def _range(self, codes: Codes, radius: int) -> _Range:
        faiss = _faiss()
        if isinstance(self._faiss, faiss.IndexBinaryMultiHash):
            plan = MultiHashPlan(nhash=int(self._faiss.nhash), b=int(self._faiss.b))
            if plan.probes(radius) > len(self._ids):
                # Probing more buckets than there are codes: a scan is cheaper and still exact.
                return hamming_scan(self._codes, codes, radius)
            self._faiss.nflip = plan.nflip(radius)
        lims, dist, pos = self._faiss.range_search(codes, radius + 1)
        return lims, dist.astype(np.int64), pos.astype(np.int64)

    def query(self, codes: Codes, radius: int) -> Hits:
        """Every live entry within ``radius`` (inclusive) of each query code."""
        codes = self._check_codes(codes)
        if radius < 0:
            raise ValueError(f"radius must be >= 0, not {radius}")
        if not len(codes) or not len(self._ids):
            return [[] for _ in range(len(codes))]
        lims, dist, pos = self._range(codes, radius)
        out: Hits = []
        for q in range(len(codes)):
            lo, hi = int(lims[q]), int(lims[q + 1])
            p, d = pos[lo:hi], dist[lo:hi]
            live = self._alive[p]
            ids, d = self._ids[p[live]], d[live]
            order = np.lexsort((ids, d))
            out.append(list(zip(ids[order].tolist(), d[order].tolist(), strict=True)))
        return out

    def save(self, folder: Path) -> None:
        """Write the FAISS index and a JSON sidecar with the ids (tombstones compacted first)."""
        if self._dead:
            self._rebuild()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (FAISS_FILE + ".tmp")
        _faiss().write_index_binary(self._faiss, os.fspath(tmp))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        tmp.replace(folder / FAISS_FILE)
        self._write_sidecar(folder, self._ids, {"faiss_file": FAISS_FILE, "count": len(self._ids), "sha256": digest})

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read an index written by :meth:`save`."""
        doc = cls._read_sidecar(folder)
        faiss = _faiss()
        path = folder / str(doc.get("faiss_file", FAISS_FILE))
        if not path.is_file():
            raise IndexFormatError(f"{path} is missing")
        if "sha256" in doc and doc["sha256"] != hashlib.sha256(path.read_bytes()).hexdigest():
            raise IndexFormatError(f"{path} does not match the checksum in its sidecar")
        try:
            native = faiss.read_index_binary(os.fspath(path))
        except RuntimeError as exc:
            raise IndexFormatError(f"{path} is not a FAISS binary index: {exc}") from exc
        bits, ids = int(doc["bits"]), np.asarray(doc["ids"], dtype=np.int64)
        if native.d != bits or native.ntotal != len(ids):
            raise IndexFormatError(f"{path} does not match its sidecar (bits or entry count)")
        storage = native
        if isinstance(native, faiss.IndexBinaryMultiHash):
            storage = faiss.downcast_IndexBinary(native.storage)
        index = cls(bits, radius_hint=doc.get("radius_hint"))
        index._faiss = native
        index._ids = ids
        index._codes = faiss.vector_to_array(storage.xb).reshape(len(ids), bits // 8)
        index._alive = np.ones(len(ids), dtype=bool)
        index._built_for = len(ids)
        return index


class FlatIndex(FaissBinaryIndex):
    """Exact scan over every code (FAISS ``IndexBinaryFlat``): best below tens of thousands."""

    name: ClassVar[str] = "faiss-flat"

    def _new_faiss(self, n: int) -> Any:
        return _faiss().IndexBinaryFlat(self.bits)


class MultiHashIndex(FaissBinaryIndex):
    """Multi-index hashing (FAISS ``IndexBinaryMultiHash``), exact at every radius.

    The table layout is chosen by :func:`plan_multihash` for the entry count and the
    radius hint, and re-chosen when the index doubles. See :class:`MultiHashPlan` for why the
    answers equal a brute-force scan.
    """

    name: ClassVar[str] = "faiss-multihash"
    replan_on_growth: ClassVar[bool] = True

    def _new_faiss(self, n: int) -> Any:
        plan = plan_multihash(self.bits, self._radius, n)
        return _faiss().IndexBinaryMultiHash(self.bits, plan.nhash, plan.b)


EXACT_TAIL_MAX = 32_768
"""Entries added since the last merge that an :class:`ExactIndex` keeps in a dict before merging them
into its sorted arrays (a merge re-sorts everything: about a second at 10M entries)."""


def _prefixes(codes: Codes) -> npt.NDArray[np.uint64]:
    """The first 8 bytes of each code as a big-endian integer (zero-padded): the sort key."""
    head = codes[:, :8]
    if head.shape[1] < 8:
        head = np.concatenate([head, np.zeros((len(head), 8 - head.shape[1]), dtype=np.uint8)], axis=1)
    keys: npt.NDArray[np.uint64] = np.ascontiguousarray(head).view(">u8").reshape(-1).astype(np.uint64)
    return keys


class ExactIndex(MatchIndex):
    """Identical-code lookup for cryptographic hashes (md5, sha1, sha256) over sorted numpy arrays.

    Why arrays: a dict of hex strings to sets of ids costs about 300 bytes an entry in Python
    objects (3 GB at 10M); here an entry costs its code, an 8-byte sort key, its id and a live
    flag (about 90 bytes for sha256). Codes are sorted by their first 8 bytes; a lookup is a
    binary search over those keys (vectorised over the query batch) and a full comparison of the
    few codes that share the key. Added entries wait in a small dict (matchable at once) and are
    merged into the sorted arrays past :data:`EXACT_TAIL_MAX`; removed ones are tombstoned and
    compacted past :data:`TOMBSTONE_FRACTION`.

    The radius is ignored; every hit has distance 0. Saved as a JSON sidecar only (there is no
    FAISS part), listing each id with its hex code.
    """

    name: ClassVar[str] = "exact-map"
    abilities: ClassVar[frozenset[IndexAbility]] = frozenset()

    def __init__(self, bits: int, *, radius_hint: int | None = None) -> None:
        super().__init__(bits, radius_hint=radius_hint)
        self._keys: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self._codes: Codes = np.zeros((0, self.nbytes), dtype=np.uint8)
        self._ids: Ids = np.zeros(0, dtype=np.int64)
        self._alive: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._dead = 0
        # The unmerged tail: code bytes -> ids, and each tail id's code.
        self._tail: dict[bytes, set[int]] = {}
        self._tail_code: dict[int, bytes] = {}

    def build(self, ids: Ids, codes: Codes) -> None:
        """Replace the whole content with ``ids`` and their ``codes``."""
        ids, codes = self._check_ids_codes(ids, codes)
        self._tail, self._tail_code = {}, {}
        self._install(ids, codes)

    def _install(self, ids: Ids, codes: Codes) -> None:
        keys = _prefixes(codes)
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._codes = codes[order]
        self._ids = ids[order]
        self._alive = np.ones(len(ids), dtype=bool)
        self._dead = 0

    def _merge(self) -> None:
        """Fold the tail into the sorted arrays and drop tombstones."""
        live = self._alive
        ids, codes = self._ids[live], self._codes[live]
        if self._tail_code:
            tail_ids = np.fromiter(self._tail_code, dtype=np.int64, count=len(self._tail_code))
            raw = b"".join(self._tail_code.values())
            tail_codes = np.frombuffer(raw, dtype=np.uint8).reshape(len(tail_ids), self.nbytes)
            ids, codes = np.concatenate([ids, tail_ids]), np.concatenate([codes, tail_codes])
        self._tail, self._tail_code = {}, {}
        self._install(ids, codes)

    def add(self, ids: Ids, codes: Codes) -> None:
        """Add entries; an id already present gets the new code."""
        ids, codes = self._check_ids_codes(ids, codes)
        if not len(ids):
            return
        self.remove(ids)
        raw = codes.tobytes()
        width = self.nbytes
        for row, entry_id in enumerate(ids.tolist()):
            key = raw[row * width : (row + 1) * width]
            self._tail.setdefault(key, set()).add(entry_id)
            self._tail_code[entry_id] = key
        if len(self._tail_code) > EXACT_TAIL_MAX:
            self._merge()

    def remove(self, ids: Ids) -> None:
        """Forget entries; ids that are not present are ignored."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not len(ids):
            return
        if self._tail_code:
            for entry_id in ids.tolist():
                key = self._tail_code.pop(entry_id, None)
                if key is not None:
                    holders = self._tail[key]
                    holders.discard(entry_id)
                    if not holders:
                        del self._tail[key]
        if len(self._ids):
            hit = ids_in(self._ids, ids) & self._alive
            dead = int(np.count_nonzero(hit))
            if dead:
                self._alive[hit] = False
                self._dead += dead
                if self._dead > TOMBSTONE_FRACTION * len(self._ids):
                    self._merge()

    def query(self, codes: Codes, radius: int) -> Hits:
        """Entries whose code equals each query code (distance 0), by id."""
        codes = self._check_codes(codes)
        if radius < 0:
            raise ValueError(f"radius must be >= 0, not {radius}")
        out: Hits = [[] for _ in range(len(codes))]
        if not len(codes):
            return out
        if len(self._keys):
            keys = _prefixes(codes)
            lo = np.searchsorted(self._keys, keys, side="left")
            hi = np.searchsorted(self._keys, keys, side="right")
            # Distinct codes rarely share 8 leading bytes: only queries with a key hit go on.
            for q in np.flatnonzero(hi > lo).tolist():
                span = slice(int(lo[q]), int(hi[q]))
                same = np.all(self._codes[span] == codes[q], axis=1) & self._alive[span]
                out[q] = [(entry_id, 0) for entry_id in self._ids[span][same].tolist()]
        if self._tail:
            raw = codes.tobytes()
            width = self.nbytes
            for q in range(len(codes)):
                holders = self._tail.get(raw[q * width : (q + 1) * width])
                if holders:
                    out[q].extend((entry_id, 0) for entry_id in holders)
        for hits in out:
            hits.sort()
        return out

    def __len__(self) -> int:
        return len(self._ids) - self._dead + len(self._tail_code)

    def save(self, folder: Path) -> None:
        """Write the JSON sidecar with every id and its hex code."""
        self._merge()
        order = np.argsort(self._ids, kind="stable")
        raw = self._codes[order].tobytes().hex()
        width = 2 * self.nbytes
        codes = [raw[i * width : (i + 1) * width] for i in range(len(order))]
        self._write_sidecar(folder, self._ids[order], {"codes": codes})

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read an index written by :meth:`save`."""
        doc = cls._read_sidecar(folder)
        bits, ids, codes = int(doc["bits"]), doc.get("ids"), doc.get("codes")
        if not isinstance(ids, list) or not isinstance(codes, list) or len(ids) != len(codes):
            raise IndexFormatError(f"{folder} sidecar has no matching ids and codes")
        index = cls(bits, radius_hint=doc.get("radius_hint"))
        try:
            raw = bytes.fromhex("".join(codes))
        except (TypeError, ValueError) as exc:
            raise IndexFormatError(f"{folder} sidecar holds a code that is not hex") from exc
        if len(raw) != len(codes) * index.nbytes:
            raise IndexFormatError(f"{folder} sidecar holds a code of the wrong length")
        array = np.frombuffer(raw, dtype=np.uint8).reshape(len(codes), index.nbytes)
        index.build(np.asarray(ids, dtype=np.int64), array)
        return index

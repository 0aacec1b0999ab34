"""Matcher index for millions of perceptual hashes: exact multi-index hashing over numpy arrays.

Why not FAISS's ``IndexBinaryMultiHash``: measured here (FAISS 1.15, 1M random 256-bit codes,
radius 31, one thread) it answers in 0.6-2.8 ms per query, because every candidate goes through a
``std::unordered_set`` and every probe through a ``std::unordered_map``. This index keeps the
same idea (Norouzi et al., "Fast Exact Search in Hamming Space with Multi-Index Hashing", 2014)
in flat arrays, vectorised over a batch of queries, and answers the same queries several times
faster (``benchmarks/matching.py`` measures both side by side).

**Layout.** Each code is cut into ``m`` disjoint substrings of ``b`` bits. Table ``t`` is a
counting-sort of all positions by substring ``t``: ``offsets[t]`` (``2**b + 1`` entries) says where
each substring value's positions start in ``order[t]``. Codes, ids and a live flag per position sit
in parallel arrays.

**Why it is exact.** Write the radius as ``r = m*a + c`` with ``0 <= c < m``. If a code within ``r``
differed in at least ``a + 1`` bits on each of the first ``c + 1`` substrings and in at least ``a``
bits on each of the others, it would differ in ``(c+1)(a+1) + (m-c-1)a = r + 1`` bits in all, a
contradiction. So probing every substring value within ``a`` flips in the first ``c + 1`` tables and
within ``a - 1`` flips in the rest finds every true neighbour; each candidate is then checked on the
full code. Results equal a brute-force scan at every radius (``tests/contract``).

**Changes.** Added codes go to a *tail* scanned exactly by a FAISS ``IndexBinaryFlat``, so a new
entry is matchable at once. Removed codes are tombstoned and filtered at query time. When the
tail passes :data:`TAIL_MAX` entries or tombstones pass a quarter of the positions, the live codes
are re-indexed: synchronously below :data:`BACKGROUND_MIN` entries, else in a background thread
while queries go on against the old tables, then swapped in under the index's lock.

**Persistence.** The live codes are written as a FAISS binary flat index (open format, no pickle)
with the JSON sidecar of :class:`~matcher.base.MatchIndex` (ids, plan, SHA-256 of the FAISS file);
the tables are derived data, rebuilt on load.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import structlog

from core.optional import require
from matcher.base import Codes, Hits, Ids, IndexAbility, IndexFormatError, MatchIndex
from matcher.indexes import ids_in

log = structlog.get_logger(__name__)

TAIL_MAX = 32_768
"""Codes added since the last re-index that may wait in the exactly scanned tail (a FAISS flat
scan of 32k codes costs about as much as one table lookup round)."""

TOMBSTONE_FRACTION = 0.25
"""Share of removed positions above which the live codes are re-indexed."""

BACKGROUND_MIN = 200_000
"""Entry count from which a re-index runs in a background thread (below, it takes < 0.5 s)."""

FAISS_FILE = "codes.faissbin"
"""Name of the FAISS-serialised codes inside an index folder."""

_QUERY_CHUNK = 64
"""Queries handled per vectorised round: the probe and candidate arrays (about 1 MB at 10M entries)
stay in the L2 cache: 156 us a lookup at 1M against 187 with 256 and 183 with 16 (loaded machine)."""

_CANDIDATE_WEIGHT = 2.0
"""Cost of checking one candidate relative to probing one bucket (two random reads against one)."""

_Int = npt.NDArray[np.int64]
_Words = npt.NDArray[np.uint64]


def _faiss() -> Any:
    return require("faiss", "matcher")


def _words(codes: Codes) -> _Words:
    """Codes as little-endian 64-bit words (zero-padded to whole words)."""
    nbytes = codes.shape[1]
    pad = (-nbytes) % 8
    if pad:
        codes = np.concatenate([codes, np.zeros((len(codes), pad), dtype=np.uint8)], axis=1)
    return np.ascontiguousarray(codes).view("<u8")


def _popcount(words: _Words) -> npt.NDArray[np.int16]:
    """Bits set per row. Adding the few word columns one by one beats ``sum(axis=1)`` several times."""
    per_word = np.bitwise_count(words)
    # int16 holds any count up to 32,767 bits and halves the passes' memory against int64.
    counts: npt.NDArray[np.int16] = per_word[:, 0].astype(np.int16)
    for column in range(1, per_word.shape[1]):
        counts += per_word[:, column]
    return counts


@dataclass(frozen=True, slots=True)
class MihPlan:
    """``m`` tables keyed by disjoint ``b``-bit substrings of ``bits``-bit codes."""

    bits: int
    m: int
    b: int

    def table_radii(self, radius: int) -> list[int]:
        """Flips probed in each table for an exact answer at ``radius`` (-1: table not probed)."""
        a, c = divmod(radius, self.m)
        return [min(a if t <= c else a - 1, self.b) for t in range(self.m)]

    def probes(self, radius: int) -> int:
        """Buckets visited per query at ``radius``."""
        return sum(sum(math.comb(self.b, k) for k in range(r + 1)) for r in self.table_radii(radius))

    def cost(self, radius: int, n: int) -> float:
        """Expected work per query on uniform codes: bucket probes plus weighted candidate checks."""
        probes = self.probes(radius)
        return probes * (1.0 + _CANDIDATE_WEIGHT * n / 2.0**self.b)

    def table_keys(self, words: _Words, t: int) -> _Int:
        """Substring values of table ``t`` only (building tables one at a time keeps memory low)."""
        word, shift = divmod(t * self.b, 64)
        value = words[:, word] >> np.uint64(shift)
        if shift + self.b > 64:
            value = value | (words[:, word + 1] << np.uint64(64 - shift))
        keys: _Int = (value & np.uint64((1 << self.b) - 1)).astype(np.int64)
        return keys

    def keys(self, words: _Words) -> _Int:
        """Substring values of each code, shape ``(n, m)``: bits ``[t*b, (t+1)*b)`` for table ``t``.

        Bit ``i`` of a code is bit ``i % 64`` of its little-endian word ``i // 64``. All tables
        at once (a handful of array operations whatever ``m`` is: single lookups stay cheap); a
        substring that crosses a word boundary takes its high bits from the next word.
        """
        start = np.arange(self.m, dtype=np.int64) * self.b
        word, shift = start // 64, (start % 64).astype(np.uint64)
        spills = (start % 64) + self.b > 64
        nxt = np.minimum(word + 1, words.shape[1] - 1)
        up = np.where(spills, np.uint64(64) - shift, np.uint64(0)).astype(np.uint64)
        low = words[:, word] >> shift
        high = (words[:, nxt] << up) * spills.astype(np.uint64)
        keys: _Int = ((low | high) & np.uint64((1 << self.b) - 1)).astype(np.int64)
        return keys


def plan_mih(bits: int, radius: int, n: int) -> MihPlan:
    """Choose the substring width for ``n`` codes of ``bits`` bits searched at ``radius``.

    Widths run from 8 to 24 bits with ``2**b`` at most twice the entry count (the offset tables
    then cost no more memory than the positions). For 256-bit PDQ at radius 31 this gives 12
    tables of 20 bits at 1M entries and 11 tables of 23 bits at 10M.
    """
    best: MihPlan | None = None
    for b in range(8, min(bits, 24) + 1):
        if b > 8 and 2**b > 2 * max(n, 1):
            break
        plan = MihPlan(bits=bits, m=bits // b, b=b)
        if best is None or plan.cost(radius, n) < best.cost(radius, n):
            best = plan
    assert best is not None
    return best


@dataclass(frozen=True, slots=True)
class _Probes:
    """Precomputed probe pattern of one plan at one radius."""

    table: _Int
    mask: _Int
    offset_base: _Int
    """Where each probe's table starts in the flattened offsets."""
    order_base: _Int
    """Where each probe's table starts in the flattened order."""


@dataclass(slots=True)
class _Tables:
    """The multi-index over positions ``[0, n)``."""

    plan: MihPlan
    n: int
    offsets: npt.NDArray[np.int64] | npt.NDArray[np.int32]
    order: npt.NDArray[np.int32]
    probes: dict[int, _Probes]

    @classmethod
    def build(cls, plan: MihPlan, words: _Words) -> _Tables:
        n = len(words)
        nb = 1 << plan.b
        index_type = np.int32 if n < 2**31 else np.int64
        offsets = np.zeros((plan.m, nb + 1), dtype=index_type)
        order = np.empty((plan.m, n), dtype=np.int32)
        for t in range(plan.m):
            column = plan.table_keys(words, t)
            order[t] = np.argsort(column, kind="stable")
            np.cumsum(np.bincount(column, minlength=nb), out=offsets[t, 1:])
        return cls(plan, n, offsets, order, {})

    def probe_pattern(self, radius: int) -> _Probes:
        found = self.probes.get(radius)
        if found is None:
            tables, masks = [], []
            for t, r in enumerate(self.plan.table_radii(radius)):
                for k in range(r + 1):
                    for combo in itertools.combinations(range(self.plan.b), k):
                        tables.append(t)
                        masks.append(sum(1 << i for i in combo))
            table = np.asarray(tables, dtype=np.int64)
            found = _Probes(
                table=table,
                mask=np.asarray(masks, dtype=np.int64),
                offset_base=table * ((1 << self.plan.b) + 1),
                order_base=table * self.n,
            )
            self.probes[radius] = found
        return found

    def candidates(self, words: _Words, query_words: _Words, radius: int) -> tuple[_Int, _Int, _Int]:
        """``(query row, position, distance)`` of every position within ``radius`` of each query."""
        probes = self.probe_pattern(radius)
        keys = self.plan.keys(query_words)
        bucket = (keys[:, probes.table] ^ probes.mask) + probes.offset_base  # (q, probes)
        flat_offsets = self.offsets.reshape(-1)
        # Two gathers into the offsets (start and the next bucket's start, mostly one cache line);
        # kept in the offsets' own integer type, as is the order: every conversion is a pass more.
        start = flat_offsets.take(bucket)
        length = flat_offsets[1:].take(bucket)
        length -= start
        per_query = length.sum(axis=1, dtype=np.int64)
        length = length.reshape(-1)
        total = int(per_query.sum())
        if not total:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        begin = (start + probes.order_base).reshape(-1)
        # Expand every bucket [begin, begin + length) into one flat array of order indices.
        first = np.cumsum(length, dtype=np.int64) - length
        flat = np.repeat(begin - first, length) + np.arange(total, dtype=np.int64)
        positions = self.order.reshape(-1).take(flat)
        # Candidates come grouped by query: repeating each query's words is a copy, not a gather.
        diff = words.take(positions, axis=0)
        diff ^= np.repeat(query_words, per_query, axis=0)
        distances = _popcount(diff)
        keep = np.flatnonzero(distances <= radius)
        rows = np.repeat(np.arange(len(query_words), dtype=np.int64), per_query)
        return rows[keep], positions[keep].astype(np.int64), distances[keep].astype(np.int64)


@dataclass(slots=True)
class _Prepared:
    """A re-index built off-lock: compacted live codes (with room to grow) and their tables."""

    live: _Int
    """Old positions of the live codes, in their new order."""
    codes: Codes
    ids: Ids
    tables: _Tables | None
    snap_n: int
    """Positions the snapshot covered; later ones are carried over at the swap."""


class MihIndex(MatchIndex):
    """Exact multi-index hashing for large perceptual-hash sets (see the module docstring).

    Args:
        bits: Code length in bits.
        radius_hint: The radius the tables are planned for (default PDQ's 31, scaled).
        tables_min: Below this many live entries no tables are built and every code is in the
            exactly scanned flat tail (a flat scan is cheaper for small sets).
        background_min: From this many entries a re-index runs in a background thread.

    """

    name: ClassVar[str] = "mih"
    abilities: ClassVar[frozenset[IndexAbility]] = frozenset({IndexAbility.NEAR})

    def __init__(
        self,
        bits: int,
        *,
        radius_hint: int | None = None,
        tables_min: int = 0,
        background_min: int = BACKGROUND_MIN,
    ) -> None:
        super().__init__(bits, radius_hint=radius_hint)
        self.tables_min = tables_min
        self.background_min = background_min
        self._lock = threading.RLock()
        self._codes: Codes = np.zeros((0, self.nbytes), dtype=np.uint8)
        self._words: _Words = _words(self._codes)
        self._ids: Ids = np.zeros(0, dtype=np.int64)
        self._alive: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._n = 0
        self._dead = 0
        self._tables: _Tables | None = None
        self._indexed = 0
        """Positions ``[0, _indexed)`` are in the tables; the rest are the tail."""
        self._tail: Any = _faiss().IndexBinaryFlat(self.bits)
        self._worker: threading.Thread | None = None

    @property
    def radius(self) -> int:
        """The radius the tables are planned for."""
        return self.radius_hint if self.radius_hint is not None else self.bits * 31 // 256

    @property
    def plan(self) -> MihPlan | None:
        """The table layout in use (None while every code is in the flat tail)."""
        return self._tables.plan if self._tables is not None else None

    @property
    def tail_size(self) -> int:
        """Codes waiting in the flat tail."""
        return self._n - self._indexed

    # Storage --------------------------------------------------------------------------------

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= len(self._ids):
            return
        cap = max(need, 2 * len(self._ids), 1024)
        codes = np.zeros((cap, self.nbytes), dtype=np.uint8)
        codes[: self._n] = self._codes[: self._n]
        ids = np.zeros(cap, dtype=np.int64)
        ids[: self._n] = self._ids[: self._n]
        alive = np.zeros(cap, dtype=bool)
        alive[: self._n] = self._alive[: self._n]
        self._codes, self._ids, self._alive = codes, ids, alive
        self._words = _words(self._codes)

    def _kill(self, ids: Ids) -> None:
        if not len(ids) or not self._n:
            return
        hit = ids_in(self._ids[: self._n], ids) & self._alive[: self._n]
        self._alive[: self._n][hit] = False
        self._dead += int(hit.sum())

    def __len__(self) -> int:
        return self._n - self._dead

    def build(self, ids: Ids, codes: Codes) -> None:
        """Replace the whole content and index it (synchronously, in place: no second copy)."""
        ids, codes = self._check_ids_codes(ids, codes)
        self.wait()
        with self._lock:
            n = len(ids)
            self._codes = np.zeros((n + 1024, self.nbytes), dtype=np.uint8)
            self._ids = np.zeros(n + 1024, dtype=np.int64)
            self._alive = np.zeros(n + 1024, dtype=bool)
            self._codes[:n], self._ids[:n], self._alive[:n] = codes, ids, True
            self._words = _words(self._codes)
            self._n, self._dead = n, 0
            self._tables = None
            if n >= max(self.tables_min, 1):
                self._tables = _Tables.build(plan_mih(self.bits, self.radius, n), self._words[:n])
            self._indexed = n if self._tables is not None else 0
            self._tail = _faiss().IndexBinaryFlat(self.bits)
            if n > self._indexed:
                self._tail.add(np.ascontiguousarray(self._codes[self._indexed : n]))

    def add(self, ids: Ids, codes: Codes) -> None:
        """Add entries to the tail (matchable at once); an id already present gets the new code."""
        ids, codes = self._check_ids_codes(ids, codes)
        if not len(ids):
            return
        with self._lock:
            self._kill(ids)
            self._reserve(len(ids))
            start = self._n
            self._codes[start : start + len(ids)] = codes
            self._ids[start : start + len(ids)] = ids
            self._alive[start : start + len(ids)] = True
            self._n += len(ids)
            self._tail.add(codes)
            self._maybe_reindex()

    def remove(self, ids: Ids) -> None:
        """Tombstone entries; ids that are not present are ignored."""
        with self._lock:
            self._kill(np.asarray(ids, dtype=np.int64).reshape(-1))
            self._maybe_reindex()

    # Re-indexing ----------------------------------------------------------------------------

    def _maybe_reindex(self) -> None:
        live = len(self)
        if self._tables is None:
            due = live >= max(self.tables_min, 1) and self.tail_size > 0  # big enough for tables now
        else:
            due = self.tail_size > TAIL_MAX
        if due or self._dead > TOMBSTONE_FRACTION * max(self._n, 1):
            self._reindex(background=live >= self.background_min)

    def _reindex(self, *, background: bool) -> None:
        """Rebuild the tables over the live codes (caller holds the lock)."""
        if self._worker is not None:
            return  # one re-index at a time; the next change re-checks
        snapshot = (self._codes, self._ids, self._alive[: self._n].copy(), self._n)
        if not background:
            self._swap(self._prepare(*snapshot))
            return
        log.info("mih.reindex_started", entries=len(self), tail=self.tail_size, dead=self._dead)

        def work() -> None:
            try:
                prepared = self._prepare(*snapshot)
                with self._lock:
                    self._swap(prepared)
            except Exception as exc:  # the old tables stay in use; the next change tries again
                log.error("mih.reindex_failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._worker = None
            log.info("mih.reindex_done", entries=len(self))

        self._worker = threading.Thread(target=work, name="mih-reindex", daemon=True)
        self._worker.start()

    def _prepare(self, codes: Codes, ids: Ids, alive: npt.NDArray[np.bool_], n: int) -> _Prepared:
        """Compact the live positions of a snapshot and build tables over them (no lock held).

        The new arrays get room for the codes that will arrive during the build, so installing
        them copies only those, not everything again.
        """
        live = np.flatnonzero(alive[:n]).astype(np.int64)
        size = len(live)
        cap = size + max(2 * TAIL_MAX, 1024)
        new_codes = np.zeros((cap, self.nbytes), dtype=np.uint8)
        np.take(codes, live, axis=0, out=new_codes[:size])
        new_ids = np.zeros(cap, dtype=np.int64)
        np.take(ids, live, out=new_ids[:size])
        words = _words(new_codes)
        tables = None
        if size >= max(self.tables_min, 1):
            tables = _Tables.build(plan_mih(self.bits, self.radius, size), words[:size])
        return _Prepared(live, new_codes, new_ids, tables, n)

    def _swap(self, prepared: _Prepared) -> None:
        """Install a prepared re-index; codes added and removals made meanwhile carry over."""
        live, snap_n = prepared.live, prepared.snap_n
        extra = self._n - snap_n
        size = len(live) + extra
        codes, ids = prepared.codes, prepared.ids
        if size > len(ids):  # more arrived during the build than there was room for
            codes = np.concatenate([codes, np.zeros((size - len(ids) + 1024, self.nbytes), dtype=np.uint8)])
            ids = np.concatenate([ids, np.zeros(size - len(prepared.ids) + 1024, dtype=np.int64)])
        codes[len(live) : size] = self._codes[snap_n : self._n]
        ids[len(live) : size] = self._ids[snap_n : self._n]
        alive = np.zeros(len(ids), dtype=bool)
        alive[: len(live)] = self._alive[live]  # removals made during the build
        alive[len(live) : size] = self._alive[snap_n : self._n]
        self._codes, self._ids, self._alive = codes, ids, alive
        self._words = _words(self._codes)
        self._n = size
        self._dead = int(size - alive[:size].sum())
        self._tables = prepared.tables
        self._indexed = len(live) if prepared.tables is not None else 0
        self._tail = _faiss().IndexBinaryFlat(self.bits)
        if self._n > self._indexed:
            self._tail.add(np.ascontiguousarray(self._codes[self._indexed : self._n]))

    def compact(self) -> None:
        """Re-index the live codes now: in a background thread from ``background_min`` entries."""
        with self._lock:
            self._reindex(background=len(self) >= self.background_min)

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for a background re-index to finish (tests, benchmarks, saving)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout_s)

    # Queries --------------------------------------------------------------------------------

    def query(self, codes: Codes, radius: int) -> Hits:
        """Every live entry within ``radius`` (inclusive) of each query code."""
        codes = self._check_codes(codes)
        if radius < 0:
            raise ValueError(f"radius must be >= 0, not {radius}")
        out: Hits = [[] for _ in range(len(codes))]
        with self._lock:
            if not len(codes) or not len(self):
                return out
            for start in range(0, len(codes), _QUERY_CHUNK):
                chunk = codes[start : start + _QUERY_CHUNK]
                rows, positions, distances = self._candidates(chunk, radius)
                self._collect(out, start, rows, positions, distances)
        return out

    def _candidates(self, codes: Codes, radius: int) -> tuple[_Int, _Int, _Int]:
        parts: list[tuple[_Int, _Int, _Int]] = []
        query_words = _words(codes)
        if self._tables is not None:
            tables = self._tables
            if tables.plan.probes(radius) > self._indexed:
                parts.append(self._scan(query_words, radius, self._indexed))  # cheaper than probing
            else:
                parts.append(tables.candidates(self._words[: self._indexed], query_words, radius))
        if self._n > self._indexed:
            lims, dist, pos = self._tail.range_search(codes, radius + 1)
            counts = np.diff(lims.astype(np.int64))
            rows = np.repeat(np.arange(len(codes), dtype=np.int64), counts)
            parts.append((rows, pos.astype(np.int64) + self._indexed, dist.astype(np.int64)))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def _scan(self, query_words: _Words, radius: int, n: int) -> tuple[_Int, _Int, _Int]:
        rows, positions, distances = [], [], []
        for q, word in enumerate(query_words):
            d = _popcount(self._words[:n] ^ word)
            hit = np.flatnonzero(d <= radius)
            rows.append(np.full(len(hit), q, dtype=np.int64))
            positions.append(hit.astype(np.int64))
            distances.append(d[hit].astype(np.int64))
        return np.concatenate(rows), np.concatenate(positions), np.concatenate(distances)

    def _collect(self, out: Hits, offset: int, rows: _Int, positions: _Int, distances: _Int) -> None:
        keep = self._alive.take(positions)
        rows, positions, distances = rows[keep], positions[keep], distances[keep]
        if not len(rows):
            return
        # A code found through several tables appears once per table: keep one.
        _, first = np.unique(rows * max(self._n, 1) + positions, return_index=True)
        rows, positions, distances = rows[first], positions[first], distances[first]
        ids = self._ids.take(positions)
        order = np.lexsort((ids, distances, rows))
        for row, entry_id, distance in zip(
            rows[order].tolist(), ids[order].tolist(), distances[order].tolist(), strict=True
        ):
            out[offset + row].append((entry_id, distance))

    # Persistence ----------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the live codes as a FAISS flat index plus the JSON sidecar (ids, plan, checksum)."""
        self.wait()
        with self._lock:
            live = np.flatnonzero(self._alive[: self._n])
            codes = np.ascontiguousarray(self._codes[live])
            ids = self._ids[live]
        native = _faiss().IndexBinaryFlat(self.bits)
        if len(codes):
            native.add(codes)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (FAISS_FILE + ".tmp")
        _faiss().write_index_binary(native, os.fspath(tmp))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        tmp.replace(folder / FAISS_FILE)
        plan = self.plan
        self._write_sidecar(
            folder,
            ids,
            {
                "faiss_file": FAISS_FILE,
                "sha256": digest,
                "count": len(ids),
                "tables_min": self.tables_min,
                "plan": {"m": plan.m, "b": plan.b} if plan is not None else None,
            },
        )

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read an index written by :meth:`save` and rebuild its tables."""
        doc = cls._read_sidecar(folder)
        path = folder / str(doc.get("faiss_file", FAISS_FILE))
        if not path.is_file():
            raise IndexFormatError(f"{path} is missing")
        raw = path.read_bytes()
        if doc.get("sha256") != hashlib.sha256(raw).hexdigest():
            raise IndexFormatError(f"{path} does not match the checksum in its sidecar")
        faiss = _faiss()
        try:
            native = faiss.read_index_binary(os.fspath(path))
        except RuntimeError as exc:
            raise IndexFormatError(f"{path} is not a FAISS binary index: {exc}") from exc
        bits, ids = int(doc["bits"]), np.asarray(doc["ids"], dtype=np.int64)
        if native.d != bits or native.ntotal != len(ids):
            raise IndexFormatError(f"{path} does not match its sidecar (bits or entry count)")
        tables_min = doc.get("tables_min", 0)
        index = cls(bits, radius_hint=doc.get("radius_hint"), tables_min=int(tables_min or 0))
        codes = faiss.vector_to_array(native.xb).reshape(len(ids), bits // 8)
        index.build(ids, codes)
        return index


AUTO_TABLES_MIN = 50_000
"""Entry count from which ``"auto"`` builds multi-index tables instead of scanning flat.

Measured (``benchmarks/matching.py`` sweep, clustered 256-bit codes at radius 31, lookups per
CPU-second of one core): single lookups, flat 13.4k vs tables 7.9k at 30k entries, 5.4k vs 5.7k
at 100k; batches of 64, flat 23k vs 41k at 30k. The matcher sends a media item's ~10 hashes
(variants) at once, so the two meet between 30k and 100k; below, the flat scan also saves the
tables' build time and memory.
"""


class AutoIndex(MihIndex):
    """The default: an exact flat scan for small sets, multi-index hashing from :data:`AUTO_TABLES_MIN`."""

    name: ClassVar[str] = "auto"

    def __init__(
        self,
        bits: int,
        *,
        radius_hint: int | None = None,
        tables_min: int = AUTO_TABLES_MIN,
        background_min: int = BACKGROUND_MIN,
    ) -> None:
        super().__init__(bits, radius_hint=radius_hint, tables_min=tables_min, background_min=background_min)

"""Contract kit for every registered MatchIndex, with a brute-force Hamming oracle.

Every code here is random or derived from random codes (numpy generator, fixed seeds); no
image is involved. Each registered index name must have a subclass of ``MatchIndexContract``
(``test_every_registered_index_has_a_contract`` enforces it).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from matcher import indexes, mih
from matcher.base import IndexAbility, IndexFormatError, MatchIndex
from matcher.indexes import MultiHashIndex, plan_multihash
from matcher.mih import AutoIndex, MihIndex, plan_mih
from matcher.registry import INDEXES, create_index, load_index

Codes = npt.NDArray[np.uint8]
_ORACLE_CACHE: dict[tuple[int, int], list[list[tuple[int, int]]]] = {}
"""Oracle answers for the module's two fixed data sets, by (bits, radius)."""
_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def brute_force(base: Codes, ids: npt.NDArray[np.int64], queries: Codes, radius: int):
    """The oracle: a plain Hamming scan, sorted by distance then id."""
    out = []
    for q in queries:
        d = _POP[np.bitwise_xor(base, q)].sum(axis=1)
        hit = np.flatnonzero(d <= radius)
        out.append(sorted(zip(ids[hit].tolist(), d[hit].tolist(), strict=True), key=lambda t: (t[1], t[0])))
    return out


def flip_bits(rng: np.random.Generator, code: Codes, k: int) -> Codes:
    bits = np.unpackbits(code).copy()
    where = rng.choice(len(bits), size=k, replace=False)
    bits[where] ^= 1
    return np.packbits(bits)


def make_dataset(bits: int, n: int, n_queries: int, max_flip: int, seed: int):
    """Half uniform random codes, half tight clusters; queries are perturbed entries and noise."""
    rng = np.random.default_rng(seed)
    nbytes = bits // 8
    n_random = n // 2
    uniform = rng.integers(0, 256, size=(n_random, nbytes), dtype=np.uint8)
    centres = rng.integers(0, 256, size=(max(1, (n - n_random) // 100), nbytes), dtype=np.uint8)
    cluster = np.array(
        [flip_bits(rng, centres[i % len(centres)], int(rng.integers(0, bits // 10 + 1))) for i in range(n - n_random)],
        dtype=np.uint8,
    ).reshape(-1, nbytes)
    codes = np.concatenate([uniform, cluster])
    # Ids deliberately not positions: sparse, shuffled, large.
    ids = rng.permutation(np.arange(n, dtype=np.int64) * 7 + 1_000_003)
    picks = rng.integers(0, n, size=n_queries)
    queries = np.array(
        [flip_bits(rng, codes[p], int(rng.integers(0, max_flip + 1))) for p in picks],
        dtype=np.uint8,
    ).reshape(-1, nbytes)
    queries[: n_queries // 10] = rng.integers(0, 256, size=(n_queries // 10, nbytes), dtype=np.uint8)
    # Unchanged copies, so radius 0 (and the exact index) has answers to get right.
    queries[n_queries // 10 : n_queries // 4] = codes[picks[n_queries // 10 : n_queries // 4]]
    return ids, codes, queries


@pytest.fixture(scope="module")
def pdq_like():
    return make_dataset(bits=256, n=20_000, n_queries=200, max_flip=40, seed=256)


@pytest.fixture(scope="module")
def pdq_small():
    """A smaller set for the change and persistence tests (the oracle tests use 20k)."""
    return make_dataset(bits=256, n=5_000, n_queries=100, max_flip=40, seed=7)


@pytest.fixture(scope="module")
def phash_like():
    return make_dataset(bits=64, n=20_000, n_queries=200, max_flip=12, seed=64)


class MatchIndexContract:
    """What every MatchIndex must do. Subclasses name the index under test."""

    index_name: ClassVar[str]

    def make(self, bits: int, radius_hint: int | None = None) -> MatchIndex:
        return create_index(self.index_name, bits, radius_hint=radius_hint)

    def effective(self, index: MatchIndex, radius: int) -> int:
        """Radius the oracle uses: indexes without NEAR answer identical codes only."""
        return radius if IndexAbility.NEAR in index.abilities else 0

    def check_oracle(self, data, bits: int, radius: int) -> None:
        ids, codes, queries = data
        index = self.make(bits, radius_hint=radius)
        index.build(ids, codes)
        assert len(index) == len(ids)
        key = (bits, self.effective(index, radius))
        if key not in _ORACLE_CACHE:  # the scan is the slow part; every index shares its answer
            _ORACLE_CACHE[key] = brute_force(codes, ids, queries, key[1])
        expected = _ORACLE_CACHE[key]
        got = index.query(queries, radius)
        assert got == expected
        assert sum(map(len, expected)) > len(queries) // 10  # the oracle is not trivially empty

    @pytest.mark.parametrize("radius", [0, 31, 48])
    def test_oracle_256_bits(self, pdq_like, radius: int) -> None:
        self.check_oracle(pdq_like, 256, radius)

    @pytest.mark.parametrize("radius", [0, 8, 12])
    def test_oracle_64_bits(self, phash_like, radius: int) -> None:
        self.check_oracle(phash_like, 64, radius)

    def test_radius_is_inclusive(self) -> None:
        rng = np.random.default_rng(1)
        base = rng.integers(0, 256, size=(1, 32), dtype=np.uint8)
        index = self.make(256)
        index.build(np.array([5]), base)
        exactly = flip_bits(rng, base[0], 31)[None]
        if IndexAbility.NEAR in index.abilities:
            assert index.query(exactly, 31) == [[(5, 31)]]
            assert index.query(exactly, 30) == [[]]
        else:
            assert index.query(exactly, 31) == [[]]
        assert index.query(base, 0) == [[(5, 0)]]

    def test_empty_index(self) -> None:
        index = self.make(256)
        assert len(index) == 0
        queries = np.zeros((3, 32), dtype=np.uint8)
        assert index.query(queries, 31) == [[], [], []]
        assert index.query(np.zeros((0, 32), dtype=np.uint8), 31) == []
        index.build(np.zeros(0, dtype=np.int64), np.zeros((0, 32), dtype=np.uint8))
        assert index.query(queries, 31) == [[], [], []]
        index.remove(np.array([1, 2]))
        assert len(index) == 0

    def test_one_entry(self) -> None:
        code = np.full((1, 8), 0b1010_1010, dtype=np.uint8)
        index = self.make(64)
        index.build(np.array([42]), code)
        assert len(index) == 1
        assert index.query(code, 8) == [[(42, 0)]]
        far = np.bitwise_not(code)
        assert index.query(far, 8) == [[]]

    def test_add_then_query(self, pdq_small) -> None:
        ids, codes, queries = pdq_small
        index = self.make(256, radius_hint=31)
        half = len(ids) // 2
        index.build(ids[:half], codes[:half])
        index.add(ids[half:], codes[half:])
        assert len(index) == len(ids)
        radius = self.effective(index, 31)
        assert index.query(queries[:50], 31) == brute_force(codes, ids, queries[:50], radius)

    def test_add_existing_id_replaces_its_code(self) -> None:
        rng = np.random.default_rng(3)
        a, b = rng.integers(0, 256, size=(2, 1, 32), dtype=np.uint8)
        index = self.make(256)
        index.build(np.array([1]), a)
        index.add(np.array([1]), b)
        assert len(index) == 1
        assert index.query(a, 0) == [[]]
        assert index.query(b, 0) == [[(1, 0)]]

    def test_remove_then_query(self, pdq_small) -> None:
        ids, codes, queries = pdq_small
        index = self.make(256, radius_hint=31)
        index.build(ids, codes)
        rng = np.random.default_rng(9)
        # Enough removals to cross the tombstone rebuild threshold, in several calls.
        gone = rng.choice(ids, size=len(ids) // 3, replace=False)
        for part in np.array_split(gone, 4):
            index.remove(part)
        index.remove(np.array([-1, 10**12]))  # unknown ids are ignored
        keep = ~np.isin(ids, gone)
        assert len(index) == int(keep.sum())
        radius = self.effective(index, 31)
        expected = brute_force(codes[keep], ids[keep], queries, radius)
        assert index.query(queries, 31) == expected
        # A removed id can come back.
        index.add(gone[:1], codes[ids == gone[0]])
        back = index.query(codes[ids == gone[0]], 0)[0]
        assert (int(gone[0]), 0) in back

    def test_save_load_round_trip(self, pdq_small, tmp_path: Path) -> None:
        ids, codes, queries = pdq_small
        index = self.make(256, radius_hint=31)
        index.build(ids, codes)
        index.remove(ids[:100])
        before = index.query(queries, 31)
        folder = tmp_path / "idx"
        index.save(folder)
        loaded = load_index(folder)
        assert type(loaded) is type(index)
        assert len(loaded) == len(index)
        assert loaded.query(queries, 31) == before
        assert not list(folder.glob("*.pkl")) and (folder / "index.json").is_file()
        # Still mutable after loading.
        loaded.add(ids[:1], codes[:1])
        assert (int(ids[0]), 0) in loaded.query(codes[:1], 0)[0]

    def test_load_rejects_foreign_folder(self, tmp_path: Path) -> None:
        with pytest.raises(IndexFormatError):
            type(self.make(64)).load(tmp_path)
        other = "exact-map" if self.index_name != "exact-map" else "faiss-flat"
        create_index(other, 64).save(tmp_path / "other")
        with pytest.raises(IndexFormatError):
            type(self.make(64)).load(tmp_path / "other")

    def test_duplicate_codes_with_different_ids(self) -> None:
        code = np.arange(32, dtype=np.uint8)[None]
        index = self.make(256)
        index.build(np.array([9, 3, 7]), np.repeat(code, 3, axis=0))
        assert index.query(code, 31) == [[(3, 0), (7, 0), (9, 0)]]
        index.remove(np.array([7]))
        assert index.query(code, 31) == [[(3, 0), (9, 0)]]

    def test_rejects_bad_shapes(self) -> None:
        index = self.make(64)
        with pytest.raises(ValueError):
            index.build(np.array([1, 2]), np.zeros((2, 4), dtype=np.uint8))
        with pytest.raises(ValueError):
            index.build(np.array([1]), np.zeros((2, 8), dtype=np.uint8))
        with pytest.raises(ValueError):
            index.build(np.array([1, 1]), np.zeros((2, 8), dtype=np.uint8))
        with pytest.raises(ValueError):
            index.query(np.zeros((1, 8), dtype=np.uint8), -1)


class TestFlat(MatchIndexContract):
    index_name = "faiss-flat"


class TestMultiHash(MatchIndexContract):
    index_name = "faiss-multihash"

    def test_large_radius_falls_back_to_an_exact_scan(self, pdq_like) -> None:
        ids, codes, queries = pdq_like
        index = self.make(256, radius_hint=31)
        index.build(ids, codes)
        # 100 bits from 16-bit tables would probe far more buckets than there are codes.
        assert index.query(queries[:20], 100) == brute_force(codes, ids, queries[:20], 100)

    @pytest.mark.parametrize("radius", [15, 16, 17, 32, 33])
    def test_pigeonhole_edges(self, radius: int) -> None:
        """Errors spread evenly over the substrings: the hardest case for bucket probing."""
        rng = np.random.default_rng(radius)
        base = rng.integers(0, 256, size=(3000, 32), dtype=np.uint8)
        index = MultiHashIndex(256, radius_hint=radius)
        index.build(np.arange(3000), base)
        plan = plan_multihash(256, radius, 3000)
        queries = []
        for row in base[:30]:
            bits = np.unpackbits(row).copy()
            # Flip the same number of bits in every substring, up to ``radius`` in total.
            per = radius // plan.nhash
            extra = radius - per * plan.nhash
            for t in range(plan.nhash):
                for j in range(per + (1 if t < extra else 0)):
                    bits[t * plan.b + j] ^= 1
            queries.append(np.packbits(bits))
        q = np.array(queries)
        assert index.query(q, radius) == brute_force(base, np.arange(3000), q, radius)


class TestMih(MatchIndexContract):
    index_name = "mih"

    @pytest.mark.parametrize("radius", [0, 5, 11, 12, 13, 31, 32, 33])
    def test_pigeonhole_edges(self, radius: int) -> None:
        """Errors spread evenly over the substrings, as many as the radius allows in total."""
        rng = np.random.default_rng(radius)
        base = rng.integers(0, 256, size=(3000, 32), dtype=np.uint8)
        index = MihIndex(256, radius_hint=31)
        index.build(np.arange(3000), base)
        plan = index.plan
        assert plan is not None
        queries = []
        for row in base[:30]:
            bits = np.unpackbits(row, bitorder="little").copy()
            # Bit i of a code is byte i // 8, bit i % 8 (little-endian words): table t holds bits
            # [t*b, (t+1)*b). Put radius // m flips in each table, the remainder in the first ones.
            per, extra = divmod(radius, plan.m)
            for t in range(plan.m):
                for j in range(per + (1 if t < extra else 0)):
                    bits[t * plan.b + j] ^= 1
            queries.append(np.packbits(bits, bitorder="little"))
        q = np.array(queries)
        assert index.query(q, radius) == brute_force(base, np.arange(3000), q, radius)

    def test_plans_follow_the_entry_count(self) -> None:
        assert (plan_mih(256, 31, 1_000_000).m, plan_mih(256, 31, 1_000_000).b) == (12, 20)
        assert (plan_mih(256, 31, 10_000_000).m, plan_mih(256, 31, 10_000_000).b) == (11, 23)
        small = plan_mih(256, 31, 10)
        assert small.b == 8 and small.m == 32

    def test_the_tail_is_re_indexed_past_its_limit(self, pdq_small, monkeypatch: pytest.MonkeyPatch) -> None:
        ids, codes, queries = pdq_small
        monkeypatch.setattr(mih, "TAIL_MAX", 500)
        index = MihIndex(256, radius_hint=31)
        index.build(ids[:1000], codes[:1000])
        index.add(ids[1000:1400], codes[1000:1400])
        assert index.tail_size == 400  # matchable at once, from the flat tail
        index.add(ids[1400:2000], codes[1400:2000])
        assert index.tail_size == 0
        assert index.query(queries, 31) == brute_force(codes[:2000], ids[:2000], queries, 31)

    def test_background_re_index_keeps_changes_made_while_it_ran(self, pdq_small, monkeypatch) -> None:
        ids, codes, queries = pdq_small
        monkeypatch.setattr(mih, "TAIL_MAX", 100)
        index = MihIndex(256, radius_hint=31, background_min=0)
        index.build(ids[:3000], codes[:3000])
        started = threading.Event()
        release = threading.Event()
        prepare = index._prepare

        def slow_prepare(*args):  # hold the build open while changes arrive
            started.set()
            release.wait(10)
            return prepare(*args)

        monkeypatch.setattr(index, "_prepare", slow_prepare)
        index.add(ids[3000:3200], codes[3000:3200])  # past the tail limit: a background re-index starts
        assert started.wait(10)
        removed = ids[:50]
        index.remove(removed)
        index.add(ids[3200:4500], codes[3200:4500])  # more than the room the new arrays keep: they grow
        expected_keep = ~np.isin(ids[:4500], removed)
        expected = brute_force(codes[:4500][expected_keep], ids[:4500][expected_keep], queries, 31)
        assert index.query(queries, 31) == expected
        release.set()
        index.wait(10)
        assert index.tail_size == 1300  # the codes added during the build stay in the tail
        assert len(index) == 4500 - 50
        assert index.query(queries, 31) == expected


class TestAuto(MatchIndexContract):
    """The default index at test sizes: below its threshold, an exact flat scan."""

    index_name = "auto"

    def test_starts_flat_and_builds_tables_when_it_grows(self, pdq_small) -> None:
        ids, codes, queries = pdq_small
        index = AutoIndex(256, radius_hint=31, tables_min=3_000)
        index.build(ids[:2_000], codes[:2_000])
        assert index.plan is None
        index.add(ids[2_000:], codes[2_000:])
        assert index.plan is not None and index.tail_size == 0
        assert index.query(queries, 31) == brute_force(codes, ids, queries, 31)
        index.remove(ids[:2_500])  # shrinking below the threshold goes back to flat
        assert index.plan is None
        keep = slice(2_500, None)
        assert index.query(queries, 31) == brute_force(codes[keep], ids[keep], queries, 31)


class TestAutoWithTables(MatchIndexContract):
    """The default index with a low threshold, so the oracle data runs through the tables."""

    index_name = "auto"

    def make(self, bits: int, radius_hint: int | None = None) -> MatchIndex:
        return AutoIndex(bits, radius_hint=radius_hint, tables_min=2_000)


class TestExactMap(MatchIndexContract):
    index_name = "exact-map"

    def test_codes_sharing_the_sort_key_are_told_apart(self) -> None:
        # The sorted arrays are searched by the first 8 bytes; the rest must still be compared.
        base = np.zeros((4, 32), dtype=np.uint8)
        base[:, 31] = [1, 2, 3, 2]
        index = self.make(256)
        index.build(np.array([10, 20, 30, 40]), base)
        queries = np.zeros((3, 32), dtype=np.uint8)
        queries[:, 31] = [2, 3, 4]
        assert index.query(queries, 0) == [[(20, 0), (40, 0)], [(30, 0)], []]

    def test_the_tail_is_merged_past_its_limit(self, pdq_small, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(indexes, "EXACT_TAIL_MAX", 40)
        ids, codes, _ = pdq_small
        index = self.make(256)
        index.build(ids[:100], codes[:100])
        for start in range(100, 400, 30):  # past the limit several times, with replacements
            index.add(ids[start - 5 : start + 30], codes[start - 5 : start + 30])
        index.remove(ids[50:60])
        index.add(ids[55:57], codes[200:202])  # an id comes back with another code
        assert len(index) == 400 - 10 + 2
        expected_ids = np.concatenate([ids[:50], ids[55:57], ids[60:400]])
        expected_codes = np.concatenate([codes[:50], codes[200:202], codes[60:400]])
        queries = np.concatenate([codes[:400], codes[400:450]])
        assert index.query(queries, 0) == brute_force(expected_codes, expected_ids, queries, 0)


def test_every_registered_index_has_a_contract() -> None:
    covered = {cls.index_name for cls in MatchIndexContract.__subclasses__()}
    assert covered == set(INDEXES)


def test_registered_names_are_explicit_and_unique() -> None:
    assert list(INDEXES) == [cls.name for cls in INDEXES.values()]
    assert len(set(INDEXES)) == len(INDEXES)
    for name, cls in INDEXES.items():
        assert name != cls.__name__  # a storage key, not a class name


@pytest.mark.parametrize(
    "doc",
    [
        "not json",
        '["a list"]',
        '{"format_version": 99, "index": "faiss-flat", "bits": 64, "ids": []}',
        '{"format_version": 1, "index": "faiss-flat", "bits": 63, "ids": []}',
        '{"format_version": 1, "index": "faiss-flat", "bits": 64, "ids": ["x"]}',
        '{"format_version": 1, "index": "faiss-flat", "bits": 64, "ids": [1]}',  # no FAISS file
    ],
)
def test_load_rejects_broken_sidecars(tmp_path: Path, doc: str) -> None:
    (tmp_path / "index.json").write_text(doc, encoding="utf-8")
    with pytest.raises(IndexFormatError):
        load_index(tmp_path)


@pytest.mark.parametrize("name", ["faiss-flat", "faiss-multihash", "mih", "auto"])
def test_load_rejects_a_changed_faiss_file(tmp_path: Path, name: str) -> None:
    index = create_index(name, 64)
    index.build(np.array([1, 2]), np.arange(16, dtype=np.uint8).reshape(2, 8))
    index.save(tmp_path)
    [blob] = [p for p in tmp_path.iterdir() if p.name != "index.json"]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum"):
        load_index(tmp_path)


def test_load_rejects_a_sidecar_that_disagrees_with_the_faiss_file(tmp_path: Path) -> None:
    index = create_index("faiss-flat", 64)
    index.build(np.array([1, 2]), np.zeros((2, 8), dtype=np.uint8))
    index.save(tmp_path)
    sidecar = tmp_path / "index.json"
    sidecar.write_text(sidecar.read_text().replace('"ids":[1,2]', '"ids":[1]'), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="does not match"):
        load_index(tmp_path)

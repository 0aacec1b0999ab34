"""Benchmarks, outside the pipeline: matching against millions of known hashes, one CPU core.

Images mode (the default; issue 13): CPU per crawled image, each asking what the matcher asks
for it (12 PDQ codes: the 8 dihedral hashes and the query-side variants; one pHash; one SHA-256),
16 images per call as the stage batches them, against a PDQ list and a SHA-256 list of N entries
each and a pHash list of N/10. Recall of every index is checked against a numpy popcount scan
over all codes, on planted copies at every distance up to the review threshold and on unrelated
codes; RSS added by the indexes is reported.

    python -m benchmarks.run matching                          # 1M entries, a quick run (~2 min)
    python -m benchmarks.run matching --entries 10000000       # the issue-13 target (~5-10 min, ~3 GB)

Lookups mode (issue 3), single PDQ lookups per index:

The PDQ list is clustered like real lists: families of near-duplicates (a base hash plus copies
at 1-30 flipped bits, most within 12) next to singletons. Lookups are what a crawler sends: nine
in ten unrelated to every entry, one in ten an edited copy of an entry (0-31 flipped bits).

For each size and index it measures, side by side on the same data: build time, resident memory
added by the index (and the process's peak), lookups per second per core at radius 31 (FAISS pinned
to one thread; batches of 64 lookups as the matcher sends them, and single lookups), recall
against a brute-force oracle on a sample (an exact FAISS flat scan; must be 100%), and how long
until a newly added entry matches. Also: a sweep of small sizes for the flat/multi-index switch
point, and the end-to-end time for an added entry to match on two running replicas over the
embedded bus. Everything is random and seeded; no image is involved.

    python -m benchmarks.run matching --mode lookups [--sizes 1000000,10000000] [--indexes auto,faiss-flat]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.mih import MihIndex
from matcher.registry import create_index

RADIUS = 31
BITS = 256
RESULTS = Path(__file__).resolve().parent / "results" / "matching.json"

Codes = npt.NDArray[np.uint8]


def clustered_codes(n: int, seed: int) -> Codes:
    """``n`` PDQ-like codes: 40% singletons, the rest in families of 2-20 near-duplicates."""
    rng = np.random.default_rng(seed)
    singles = int(n * 0.4)
    sizes: list[int] = []
    left = n - singles
    while left > 0:
        chunk = np.minimum(rng.geometric(0.2, size=max(1, left // 4)) + 1, 20)
        for size in chunk.tolist():
            if left <= 0:
                break
            size = min(size, left)
            sizes.append(size)
            left -= size
    families = rng.integers(0, 256, size=(len(sizes), 32), dtype=np.uint8)
    members = np.repeat(families, sizes, axis=0)
    # Copies at realistic distances: mostly re-encodes and resizes (<= 12 bits), some heavier edits.
    flips = np.where(rng.random(len(members)) < 0.8, rng.integers(0, 13, len(members)),
                     rng.integers(13, 31, len(members)))
    flips[np.cumsum(sizes) - np.asarray(sizes)] = 0  # the family's first member is the base itself
    flip_bits(rng, members, flips)
    codes = np.concatenate([rng.integers(0, 256, size=(singles, 32), dtype=np.uint8), members])
    return codes[rng.permutation(n)]


def flip_bits(rng: np.random.Generator, codes: Codes, counts: npt.NDArray[np.int64]) -> None:
    """Flip up to ``counts[i]`` random bits of row ``i`` in place (a repeated position flips back)."""
    rows_all = np.arange(len(codes))
    for step in range(int(counts.max(initial=0))):
        rows = rows_all[counts > step]
        where = rng.integers(0, 256, size=len(rows))
        codes[rows, where // 8] ^= (1 << (where % 8)).astype(np.uint8)


def lookups(codes: Codes, count: int, seed: int, near_share: float = 0.1) -> Codes:
    """Crawler-like lookups: unrelated codes, and a share of copies of entries at 0-31 flipped bits."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    near = rng.random(count) < near_share
    copies = codes[rng.integers(0, len(codes), int(near.sum()))]
    flip_bits(rng, copies, rng.integers(0, RADIUS + 1, len(copies)))
    out[near] = copies
    return out


def release_freed_memory() -> None:
    """Make freed big arrays leave the process at once, so RSS differences mean what they say.

    glibc raises its mmap threshold after large frees and then serves big arrays from the heap,
    whose freed pages stay resident and are reused silently; a fixed threshold turns that off.
    """
    import ctypes

    m_mmap_threshold = -3
    ctypes.CDLL("libc.so.6").mallopt(m_mmap_threshold, 128 * 1024)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> None:
    """Restart the kernel's peak-RSS count (VmHWM) for this process (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def oracle(codes: Codes, queries: Codes) -> list[set[tuple[int, int]]]:
    """Exact answers from a FAISS flat scan: ``{(position, distance)}`` per query."""
    import faiss

    flat = faiss.IndexBinaryFlat(BITS)
    flat.add(codes)
    lims, dist, pos = flat.range_search(queries, RADIUS + 1)
    return [set(zip(pos[lims[i]:lims[i + 1]].tolist(), dist[lims[i]:lims[i + 1]].tolist(), strict=True))
            for i in range(len(queries))]


def qps(index: Any, queries: Codes, batch: int, budget_s: float) -> float:
    """Lookups per CPU-second of this process, ``batch`` at a time, for ``budget_s`` of CPU time.

    CPU time, not wall time: on a shared machine other processes take turns on the cores, and
    what a core does per second of its own time is the figure that carries to another machine.
    FAISS is pinned to one thread, so process CPU time is one core's time.
    """
    done, start = 0, time.process_time()
    while True:
        for i in range(0, len(queries), batch):
            index.query(queries[i:i + batch], RADIUS)
            done += len(queries[i:i + batch])
            if time.process_time() - start > budget_s:
                return done / (time.process_time() - start)


def measure(name: str, codes: Codes, queries: Codes, budget_s: float, sample: int) -> dict[str, Any]:
    gc.collect()
    before = rss_mb()
    reset_peak()
    start = time.perf_counter()
    index = create_index(name, BITS, radius_hint=RADIUS)
    index.build(np.arange(len(codes), dtype=np.int64), codes)
    build_s = time.perf_counter() - start
    after = rss_mb()
    result: dict[str, Any] = {
        "index": name,
        "n": len(codes),
        "build_s": round(build_s, 2),
        "rss_added_mb": round(after - before, 1),
        "build_peak_added_mb": round(peak_rss_mb() - before, 1),
        "plan": _plan(index),
    }
    # The oracle sample is half edited copies, so it checks many true neighbours, near the radius too.
    checked = lookups(codes, sample, seed=len(codes) + 2, near_share=0.5)
    got = index.query(checked, RADIUS)
    expected = oracle(codes, checked)
    found = sum(len(expected[i] & set(got[i])) for i in range(sample))
    total = sum(map(len, expected))
    result.update(oracle_queries=sample, oracle_hits=total, recall=round(found / total, 6) if total else 1.0,
                  false_hits=sum(len(set(got[i]) - expected[i]) for i in range(sample)))
    result["lookups_per_s_batch64"] = round(qps(index, queries, 64, budget_s))
    result["lookups_per_s_single"] = round(qps(index, queries[:2000], 1, budget_s / 2))
    # A new entry: how long from add() until a query finds it.
    rng = np.random.default_rng(99)
    waits = []
    for k in range(20):
        new = rng.integers(0, 256, size=(1, 32), dtype=np.uint8)
        t0 = time.perf_counter()
        index.add(np.array([len(codes) + k], dtype=np.int64), new)
        hit = index.query(new, RADIUS)
        waits.append(time.perf_counter() - t0)
        assert (len(codes) + k, 0) in hit[0]
    result["new_entry_matchable_ms"] = round(1000 * float(np.median(waits)), 3)
    if isinstance(index, MihIndex):
        # A re-index (tail merge or tombstone compaction) while the index is in use: the peak
        # holds the old and the new tables at once.
        gc.collect()
        before = rss_mb()
        reset_peak()
        start = time.perf_counter()
        index.compact()
        index.query(queries[:64], RADIUS)  # queries go on meanwhile
        index.wait()
        result["reindex_s"] = round(time.perf_counter() - start, 2)
        result["reindex_peak_added_mb"] = round(peak_rss_mb() - before, 1)
    del index
    gc.collect()
    return result


def _plan(index: Any) -> dict[str, int] | None:
    from matcher.indexes import FaissBinaryIndex
    from matcher.mih import MihIndex

    if isinstance(index, MihIndex) and index.plan is not None:
        return {"tables": index.plan.m, "bits_per_table": index.plan.b}
    if isinstance(index, FaissBinaryIndex) and index.native_kind == "IndexBinaryMultiHash":
        return {"tables": int(index._faiss.nhash), "bits_per_table": int(index._faiss.b)}
    return None


def sweep(sizes: list[int], budget_s: float) -> list[dict[str, Any]]:
    """Flat scan against multi-index tables at small sizes (the ``auto`` switch point)."""
    rows = []
    for n in sizes:
        codes = clustered_codes(n, seed=n)
        queries = lookups(codes, 4096, seed=n + 1)
        for name in ("faiss-flat", "mih"):
            index = create_index(name, BITS, radius_hint=RADIUS)
            start = time.perf_counter()
            index.build(np.arange(n, dtype=np.int64), codes)
            rows.append({"n": n, "index": name, "build_s": round(time.perf_counter() - start, 3),
                         "lookups_per_s_batch64": round(qps(index, queries, 64, budget_s)),
                         "lookups_per_s_single": round(qps(index, queries, 1, budget_s))})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def bus_round_trip() -> dict[str, Any]:
    """Seconds until an added and then a removed entry is seen by two replicas (embedded bus)."""
    from core.bus.embedded import EmbeddedBus
    from core.store import Store
    from tests.fixtures.replicas import run_two_replicas

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = Store(f"sqlite:///{folder / 's.db'}")
        store.migrate()
        try:
            run = run_two_replicas(lambda: EmbeddedBus(folder / "bus.db"), store, folder)
        finally:
            store.dispose()
    return {"bus": "embedded", "added_seen_s": [round(t, 3) for t in run.added_s],
            "removed_seen_s": [round(t, 3) for t in run.removed_s]}


PDQ_PER_IMAGE = 12
"""PDQ lookups per image: the 8 dihedral hashes plus the query-side variants (``hashing/variants.py``)."""

PHASH_RADIUS = 8
"""pHash's review threshold (``matcher/settings.py``)."""


def popcount_oracle(codes: Codes, queries: Codes, radius: int) -> list[set[tuple[int, int]]]:
    """Brute force: every ``(position, distance)`` within ``radius`` of each query, numpy popcount
    over all codes (in chunks that stay in cache)."""
    words = np.ascontiguousarray(codes).view("<u8")
    qwords = np.ascontiguousarray(queries).view("<u8")
    out: list[set[tuple[int, int]]] = [set() for _ in range(len(queries))]
    for start in range(0, len(words), 1 << 18):
        chunk = words[start:start + (1 << 18)]
        for q, word in enumerate(qwords):
            per_word = np.bitwise_count(chunk ^ word)
            d = per_word[:, 0].astype(np.int16)  # column adds: several times faster than sum(axis=1)
            for column in range(1, per_word.shape[1]):
                d += per_word[:, column]
            hit = np.flatnonzero(d <= radius)
            out[q].update(zip((hit + start).tolist(), d[hit].tolist(), strict=True))
    return out


def near_copies(
    rng: np.random.Generator, codes: Codes, distances: npt.NDArray[np.int64]
) -> tuple[Codes, npt.NDArray[np.int64]]:
    """Copies of random entries with exactly ``distances[i]`` bits flipped; returns them and their sources."""
    source = rng.integers(0, len(codes), len(distances))
    copies = codes[source].copy()
    bits = codes.shape[1] * 8
    for row, count in enumerate(distances.tolist()):
        where = rng.choice(bits, size=count, replace=False)
        np.bitwise_xor.at(copies[row], where // 8, (1 << (where % 8)).astype(np.uint8))
    return copies, source


def image_workload(pdq: Codes, phash: Codes, exact: Codes, images: int, seed: int) -> dict[str, Codes]:
    """What ``images`` crawled images ask: 12 PDQ codes, one pHash and one SHA-256 each.

    Most codes are unrelated to every entry; one image in ten carries one PDQ code that is a copy
    of an entry at 0-31 flipped bits (the review threshold), one in ten a pHash copy at 0-8 bits,
    one in fifty an exact copy of a SHA-256 entry.
    """
    rng = np.random.default_rng(seed)
    pdq_q = rng.integers(0, 256, size=(images * PDQ_PER_IMAGE, 32), dtype=np.uint8)
    phash_q = rng.integers(0, 256, size=(images, 8), dtype=np.uint8)
    exact_q = rng.integers(0, 256, size=(images, exact.shape[1]), dtype=np.uint8)
    near = np.flatnonzero(rng.random(images) < 0.1)
    pdq_q[near * PDQ_PER_IMAGE + rng.integers(0, PDQ_PER_IMAGE, len(near))] = near_copies(
        rng, pdq, rng.integers(0, RADIUS + 1, len(near)))[0]
    near = np.flatnonzero(rng.random(images) < 0.1)
    phash_q[near] = near_copies(rng, phash, rng.integers(0, PHASH_RADIUS + 1, len(near)))[0]
    same = np.flatnonzero(rng.random(images) < 0.02)
    exact_q[same] = exact[rng.integers(0, len(exact), len(same))]
    return {"pdq": pdq_q, "phash": phash_q, "exact": exact_q}


def images_per_cpu_s(indexes: dict[str, Any], work: dict[str, Codes], batch: int, budget_s: float) -> float:
    """Images matched per CPU-second, ``batch`` images per round: one query per algorithm, as
    ``Matcher.match_many`` sends a batch of media items."""
    radii = {"pdq": RADIUS, "phash": PHASH_RADIUS, "exact": 0}
    images = len(work["phash"])
    done, start = 0, time.process_time()
    while True:
        for i in range(0, images - batch + 1, batch):
            for name, index in indexes.items():
                per = PDQ_PER_IMAGE if name == "pdq" else 1
                index.query(work[name][i * per:(i + batch) * per], radii[name])
            done += batch
            if time.process_time() - start > budget_s:
                return done / (time.process_time() - start)


def check_recall(indexes: dict[str, Any], lists: dict[str, Codes], sample: int, seed: int) -> dict[str, Any]:
    """Index answers against the popcount oracle on planted near copies at 0..radius bits and random codes."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for name, radius in (("pdq", RADIUS), ("phash", PHASH_RADIUS)):
        codes = lists[name]
        # Every distance up to the threshold, the threshold itself included, then random lookups.
        planted, _ = near_copies(rng, codes, np.arange(sample // 2) % (radius + 1))
        unrelated = rng.integers(0, 256, size=(sample - len(planted), codes.shape[1]), dtype=np.uint8)
        queries = np.concatenate([planted, unrelated])
        expected = popcount_oracle(codes, queries, radius)
        got = [set(hits) for hits in indexes[name].query(queries, radius)]
        total = sum(map(len, expected))
        found = sum(len(e & g) for e, g in zip(expected, got, strict=True))
        out[name] = {"queries": len(queries), "oracle_hits": total, "recall": found / total if total else 1.0,
                     "false_hits": sum(len(g - e) for e, g in zip(expected, got, strict=True))}
    exact = lists["exact"]
    picks = rng.integers(0, len(exact), sample // 2)
    queries = np.concatenate([exact[picks], rng.integers(0, 256, size=(sample // 2, exact.shape[1]), dtype=np.uint8)])
    got = indexes["exact"].query(queries, 0)
    expected = [{(int(p), 0)} for p in picks] + [set() for _ in range(sample // 2)]
    found = sum(len(e & set(g)) for e, g in zip(expected, got, strict=True))
    out["exact"] = {"queries": len(queries), "oracle_hits": len(picks), "recall": found / len(picks),
                    "false_hits": sum(len(set(g) - e) for e, g in zip(expected, got, strict=True))}
    return out


def run_images(args: argparse.Namespace) -> list[dict[str, Any]]:
    """CPU per image (12 PDQ + 1 pHash + 1 SHA-256 lookups) against PDQ and SHA-256 lists of each size."""
    rows = []
    for n in [int(s) for s in args.entries.split(",") if s]:
        gc.collect()
        base = rss_mb()
        start = time.perf_counter()
        lists = {"pdq": clustered_codes(n, seed=n),
                 "phash": np.random.default_rng(n + 5).integers(0, 256, size=(max(n // 10, 1), 8), dtype=np.uint8),
                 "exact": np.random.default_rng(n + 6).integers(0, 256, size=(n, 32), dtype=np.uint8)}
        generate_s = time.perf_counter() - start
        data_mb = rss_mb() - base
        reset_peak()
        before = rss_mb()
        start = time.perf_counter()
        build_cpu = time.process_time()
        kinds = {"pdq": "auto", "phash": "auto", "exact": "exact-map"}
        bits = {"pdq": 256, "phash": 64, "exact": 256}
        radii = {"pdq": RADIUS, "phash": PHASH_RADIUS, "exact": 0}
        indexes: dict[str, Any] = {}
        for name, codes in lists.items():
            indexes[name] = create_index(kinds[name], bits[name], radius_hint=radii[name] or None)
            indexes[name].build(np.arange(len(codes), dtype=np.int64), codes)
        row: dict[str, Any] = {
            "pdq_entries": n, "phash_entries": len(lists["phash"]), "sha256_entries": n,
            "generate_s": round(generate_s, 1), "build_s": round(time.perf_counter() - start, 1),
            "build_cpu_s": round(time.process_time() - build_cpu, 1),
            "pdq_plan": _plan(indexes["pdq"]),
            "generated_lists_mb": round(data_mb, 1),
            "indexes_rss_mb": round(rss_mb() - before, 1),
            "build_peak_added_mb": round(peak_rss_mb() - before, 1),
        }
        print(json.dumps(row), flush=True)
        row["recall"] = check_recall(indexes, lists, args.oracle_sample, seed=n + 7)
        print(json.dumps(row["recall"]), flush=True)
        work = image_workload(lists["pdq"], lists["phash"], lists["exact"], args.images, seed=n + 8)
        for batch in (int(b) for b in args.image_batches.split(",")):
            rate = images_per_cpu_s(indexes, work, batch, args.budget_s)
            row[f"images_per_cpu_s_batch{batch}"] = round(rate, 1)
            row[f"cpu_ms_per_image_batch{batch}"] = round(1000 / rate, 3)
            print(f"batch {batch}: {rate:.1f} images/CPU-s, {1000 / rate:.3f} ms CPU per image", flush=True)
        row["process_rss_mb"] = round(rss_mb(), 1)
        row["process_rss_without_generated_lists_mb"] = round(rss_mb() - data_mb, 1)
        rows.append(row)
        del lists, indexes, work
        gc.collect()
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="1000000", help="comma-separated entry counts (e.g. 1000000,10000000)")
    parser.add_argument("--indexes", default="auto,faiss-flat,faiss-multihash",
                        help="indexes to compare (auto, mih, faiss-flat, faiss-multihash)")
    parser.add_argument("--multihash-max", type=int, default=2_000_000,
                        help="skip faiss-multihash above this size (its build takes minutes and GBs there)")
    parser.add_argument("--queries", type=int, default=20_000, help="distinct lookups per size")
    parser.add_argument("--budget-s", type=float, default=8.0, help="seconds of lookups per measurement")
    parser.add_argument("--oracle-sample", type=int, default=500, help="lookups checked against brute force")
    parser.add_argument("--sweep", default="10000,30000,100000,300000",
                        help="small sizes for the flat/multi-index switch point ('' to skip)")
    parser.add_argument("--mode", choices=("images", "lookups", "all"), default="images",
                        help="images: CPU per crawled image (issue 13); lookups: single PDQ lookups per index")
    parser.add_argument("--entries", default="1000000",
                        help="images mode: PDQ and SHA-256 list sizes (10000000 for the issue-13 target)")
    parser.add_argument("--images", type=int, default=4096, help="images mode: distinct images asked")
    parser.add_argument("--image-batches", default="16,1", help="images mode: images per matcher call")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default results/matching_images.json in images mode, else matching.json)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(1)  # per-core figures
    release_freed_memory()
    report: dict[str, Any] = {
        "benchmark": "matching",
        "radius": RADIUS,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "faiss": faiss.__version__, "numpy": np.__version__,
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "rates": "per CPU-second of one core (process time, FAISS and numpy single-threaded)",
        "mode": args.mode,
    }
    if args.mode in ("images", "all"):
        report["images"] = run_images(args)
    if args.mode in ("lookups", "all"):
        report["runs"] = []
        for n in [int(s) for s in args.sizes.split(",") if s]:
            start = time.perf_counter()
            codes = clustered_codes(n, seed=n)
            queries = lookups(codes, args.queries, seed=n + 1)
            print(f"{n:,} clustered codes in {time.perf_counter() - start:.1f} s", flush=True)
            for name in args.indexes.split(","):
                if name == "faiss-multihash" and n > args.multihash_max:
                    continue
                row = measure(name, codes, queries, args.budget_s, args.oracle_sample)
                report["runs"].append(row)
                print(json.dumps(row), flush=True)
            del codes, queries
            gc.collect()
        if args.sweep:
            report["sweep"] = sweep([int(s) for s in args.sweep.split(",")], args.budget_s / 4)
        report["bus_round_trip"] = bus_round_trip()
        print(json.dumps(report["bus_round_trip"]), flush=True)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = args.out if args.out is not None else RESULTS.with_name(
        "matching_images.json" if args.mode == "images" else "matching.json")
    args.out = out
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()

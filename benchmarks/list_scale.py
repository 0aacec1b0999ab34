"""Benchmarks, list scale: false matches of non-matching images against 10k- and 1M-entry benign lists.

The robustness benchmark (``benchmarks/robustness.py``) checks 11,086 non-matching images against
the corpus's 400 entries; industry lists hold millions, and an image is compared with every
entry, so a pair rate that is harmless at 400 entries is not at 1M. This benchmark builds benign
lists of 10,000 and 1,000,000 entries per algorithm (PDQ, pHash) and looks every hash of 10,000
benign non-matching images up in them through the matcher's own index
(:class:`matcher.mih.AutoIndex`, the default, exact: every entry within the radius is found),
then applies the matcher's fused decision with the thresholds the matcher would use for a list
of that size (:meth:`matcher.settings.MatcherSettings.effective_thresholds`).

The list, for each size:

- the corpus's 400 originals (so the corpus copies measure the recall cost of the thresholds
  chosen for that size, on the same list);
- ``--images`` hashes of benign generated images that are not among the queries
  (``benchmarks/distractors.py`` generators at other seeds, hashed as given, as a list holds them);
- realistic synthetic codes up to the size (:func:`synthetic_codes`): a mixture of independent
  Bernoulli bits fitted by EM to the image-derived codes, so each component reproduces one
  cluster of real codes' per-bit frequencies; mixing them reproduces the correlations between
  bits and the pair-distance distribution (pHash: mean ~30 bits, not 32, with a heavier low
  tail than uniform bits), which uniform random bits would get wrong on the optimistic side.
  The fit is checked and reported: pair-distance mean, sd and low quantiles of synthetic codes
  against real codes, both measured from held-out real query codes.

A false match (or review) is counted per non-matching IMAGE, as in the robustness benchmark:
any of its hashes (as given, rotations, flips, variants) deciding ``match`` (or ``review``)
against any list entry. Rates are per 10,000 images with the exact 95% upper bound
(:func:`benchmarks.robustness.upper_bound`).

    python -m benchmarks.run list_scale [--sizes 10000,1000000] [--limit 40]
    python -m benchmarks.list_scale --hash-shard 0 & python -m benchmarks.list_scale --hash-shard 1
        # optional, first: fill the default query cache in two processes (list images with part 1)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks import distractors as dist
from benchmarks import robustness as rb
from benchmarks import transforms
from benchmarks.corpus import DEFAULT_DIR, load
from core.messages import MatchDecision, MatchHit
from hashing.hasher import HashPlan
from matcher.settings import MatcherSettings, Thresholds

RESULTS = Path(__file__).resolve().parent / "results" / "list_scale.json"
LIST_SEED_OFFSET = 1_000_000
"""List-side images are generated at ``index + LIST_SEED_OFFSET``: never one of the queries."""
HASH_SET = "list-scale"
AS_GIVEN = HashPlan(algorithms=("pdq", "phash"), dihedral=False, variants=False)
"""How a list made from images holds them: each image's own PDQ and pHash, nothing else."""


def list_images(count: int, cache: Path) -> list[rb.Probe]:
    """``count`` benign generated images for the list side, hashed as given (cached)."""
    counts = {family: round(count * share / sum(rb.FAMILY_SHARE.values())) for family, share in rb.FAMILY_SHARE.items()}
    counts["imagegen"] += count - sum(counts.values())

    def bodies() -> Iterator[tuple[rb.Probe, bytes]]:
        for family, n in counts.items():
            for index in range(n):
                made = dist.generated(family, index + LIST_SEED_OFFSET)
                yield rb.Probe(family, -1, made.origin), made.data

    def make() -> list[rb.Probe]:
        return _hash_as_given(bodies(), count)

    return rb._cached(cache / f"list-images-{rb._cache_key(counts, LIST_SEED_OFFSET)}.jsonl", make)


def _hash_as_given(bodies: Iterator[tuple[rb.Probe, bytes]], total: int, batch: int = 32) -> list[rb.Probe]:
    from hashing.hasher import compute_hashes_batch

    done: list[rb.Probe] = []
    items = list(bodies)
    for start in range(0, total, batch):
        pending = items[start : start + batch]
        for (probe, _), outcome in zip(pending, compute_hashes_batch([b for _, b in pending], plan=AS_GIVEN),
                                       strict=True):
            probe.hashes = outcome.hashes
            done.append(probe)
    return done


def query_probes(count: int, cache: Path, shard: int = 0, shards: int = 1) -> list[rb.Probe]:
    """``count`` benign non-matching images, hashed end to end as a crawled image is (cached).

    The generated families of :func:`benchmarks.robustness.distractor_probes` in its shares,
    seeds ``0..``; hashed in ``shards`` interleaved parts that separate processes may fill.
    """
    counts = {family: round(count * share / sum(rb.FAMILY_SHARE.values())) for family, share in rb.FAMILY_SHARE.items()}
    counts["imagegen"] += count - sum(counts.values())
    items = [(family, index) for family, n in counts.items() for index in range(n)]
    key = rb._cache_key(counts, "list-scale-queries")

    def part(k: int) -> list[rb.Probe]:
        mine = items[k::shards]

        def bodies() -> Iterator[tuple[rb.Probe, bytes]]:
            for family, index in mine:
                made = dist.generated(family, index)
                yield rb.Probe(family, -1, made.origin), made.data

        return rb._cached(cache / f"queries-{key}-{k}of{shards}.jsonl",
                          lambda: rb._hash_all(bodies(), len(mine), f"queries {k + 1}/{shards}"))

    if shard >= 0:
        return part(shard)
    return [p for k in range(shards) for p in part(k)]


def hash_inputs(corpus: Path, limit: int, queries: int, images: int, shards: int = 2) -> dict[str, Any]:
    """Hash (or read from the cache) everything the benchmark needs; return the probes."""
    cache = corpus / "robustness"
    paths = load(corpus)
    return {
        "known": rb.known_list(paths, cache),
        "queries": query_probes(queries, cache, -1, shards),
        "list_images": list_images(images, cache),
        "copies": rb.copies(paths[:limit], list(transforms.TRANSFORMS), 3, cache),
    }


# Synthetic codes ------------------------------------------------------------------------------


def _bits(values: Sequence[str], nbits: int) -> npt.NDArray[np.uint8]:
    raw = np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(len(values), nbits // 8)
    return np.unpackbits(raw, axis=1)


def fit_mixture(bits: npt.NDArray[np.uint8], components: int, seed: int,
                rounds: int = 60) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Fit a mixture of independent Bernoulli bits to real codes by EM.

    Args:
        bits: ``(n, d)`` 0/1 bits of real codes.
        components: Mixture components (clusters of codes).
        seed: Seeds the starting assignment.
        rounds: EM rounds.

    Returns:
        ``(weights (k,), p (k, d))``: each component's share and per-bit probability of a one.
    """
    rng = np.random.default_rng(seed)
    x = bits.astype(np.float64)
    resp = rng.dirichlet(np.ones(components), size=len(x))
    for _ in range(rounds):
        weight = resp.sum(axis=0)
        # one pseudo-code of each bit value per component: no probability of exactly 0 or 1,
        # so a synthetic code can differ from its cluster anywhere, as real codes do
        p = (resp.T @ x + 1.0) / (weight[:, None] + 2.0)
        log_like = x @ np.log(p).T + (1 - x) @ np.log1p(-p).T + np.log(weight / weight.sum())
        log_like -= log_like.max(axis=1, keepdims=True)
        resp = np.exp(log_like)
        resp /= resp.sum(axis=1, keepdims=True)
    return weight / weight.sum(), p


def synthetic_codes(weights: npt.NDArray[np.float64], p: npt.NDArray[np.float64], count: int,
                    seed: int, chunk: int = 50_000) -> npt.NDArray[np.uint8]:
    """``count`` codes drawn from a fitted mixture, packed ``(count, d // 8)`` uint8 (MSB first)."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, p.shape[1] // 8), dtype=np.uint8)
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        which = rng.choice(len(weights), size=n, p=weights)
        drawn = rng.random((n, p.shape[1]), dtype=np.float32) < p[which].astype(np.float32)
        out[start : start + n] = np.packbits(drawn, axis=1)
    return out


def _packed(values: Sequence[str], nbits: int) -> npt.NDArray[np.uint8]:
    return np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(len(values), nbits // 8).copy()


def _pair_stats(queries: npt.NDArray[np.uint8], entries: npt.NDArray[np.uint8], radii: Sequence[int]) -> dict[str, Any]:
    """Distance distribution of every (query, entry) pair: mean, sd, low quantiles, share within radii."""
    q = queries.view(">u8").astype(np.uint64)
    e = entries.view(">u8").astype(np.uint64)
    d = np.bitwise_count(q[:, None, :] ^ e[None, :, :]).sum(axis=2).ravel()
    return {
        "pairs": int(d.size), "mean": round(float(d.mean()), 2), "sd": round(float(d.std()), 2),
        "min": int(d.min()), "q1e-4": float(np.quantile(d, 1e-4)), "q1e-3": float(np.quantile(d, 1e-3)),
        "share_within": {str(r): float(f"{(d <= r).mean():.3g}") for r in radii},
    }


# Lookups -------------------------------------------------------------------------------------------


def _plain(probe: rb.Probe, algorithm: str) -> str | None:
    return next((h.value for h in probe.hashes if h.algorithm == algorithm and not h.variant), None)


def _query_codes(probes: Sequence[rb.Probe], algorithm: str) -> tuple[npt.NDArray[np.int64], list[str]]:
    rows, values = [], []
    for row, probe in enumerate(probes):
        for h in probe.hashes:
            if h.algorithm != algorithm or (h.quality is not None and h.quality < rb.MIN_QUALITY):
                continue
            rows.append(row)
            values.append(h.value)
    return np.asarray(rows, dtype=np.int64), values


def nearest_hits(probes: Sequence[rb.Probe], algorithm: str, entries: npt.NDArray[np.uint8],
                 radius: int) -> list[dict[int, int]]:
    """Per probe, every list entry within ``radius`` of any of its hashes, at the smallest distance.

    Uses the matcher's default index (:class:`matcher.mih.AutoIndex`: multi-index hashing over a
    flat tail, exact), built over ``entries`` with ids ``0..n-1``.
    """
    from matcher.mih import AutoIndex

    bits = entries.shape[1] * 8
    index = AutoIndex(bits, radius_hint=radius)
    index.build(np.arange(len(entries), dtype=np.int64), entries)
    index.wait()
    rows, values = _query_codes(probes, algorithm)
    out: list[dict[int, int]] = [{} for _ in probes]
    chunk = 4096
    for start in range(0, len(values), chunk):
        found = index.query(_packed(values[start : start + chunk], bits), radius)
        for row, hits in zip(rows[start : start + chunk], found, strict=True):
            near = out[int(row)]
            for entry, distance in hits:
                if distance < near.get(entry, 1 << 30):
                    near[entry] = distance
    return out


# Measuring -------------------------------------------------------------------------------------

ALGORITHMS = {"pdq": 256, "phash": 64}
QUERY_RADIUS = {"pdq": 31, "phash": 10}
"""Radius the lists are searched with: PDQ's review threshold (it does not scale), pHash's curve
up to 10 (the table's widest step is 8)."""
CHECK_RADII = {"pdq": (48, 64, 80), "phash": (4, 6, 8, 10)}
COMPONENTS = 32


def _label(entry: int, n_known: int, n_images: int) -> str:
    """Entry labels: one per original and list image (its PDQ and pHash share it), unique otherwise."""
    if entry < n_known:
        return f"original:{entry}"
    if entry < n_known + n_images:
        return f"image:{entry - n_known}"
    return f"synthetic:{entry}"


def false_decisions(hits: dict[str, list[dict[int, int]]], thresholds: dict[str, Thresholds], joint_max: float,
                    n_known: int, n_images: int) -> dict[str, Any]:
    """Non-matching images decided ``match`` / ``review`` with ``thresholds``, and what decided them."""
    from matcher.decision import decide

    matched = reviewed = 0
    examples: list[dict[str, Any]] = []
    for row in range(len(hits["pdq"])):
        found = []
        for name in ALGORITHMS:
            limit = thresholds[name].review
            for entry, distance in hits[name][row].items():
                if distance <= limit:
                    found.append(MatchHit(algorithm=name, distance=distance, hash_set=HASH_SET, entry_id=entry,
                                          entry_label=_label(entry, n_known, n_images), query_hash="-"))
        verdict = decide(found, thresholds, joint_max)
        if verdict.decision is MatchDecision.NONE:
            continue
        matched += verdict.decision is MatchDecision.MATCH
        reviewed += verdict.decision is MatchDecision.REVIEW
        if len(examples) < 10:
            examples.append({"row": row, "decision": str(verdict.decision), "reason": verdict.reason,
                             "entry": verdict.best.entry_id if verdict.best else -1})
    images = len(hits["pdq"])
    either = matched + reviewed

    def rate(k: int) -> dict[str, Any]:
        return {"images": k, "per_10k": round(1e4 * k / images, 2),
                "per_10k_upper95": round(1e4 * rb.upper_bound(k, images), 2)}

    return {"match": rate(matched), "review": rate(reviewed), "match_or_review": rate(either), "examples": examples}


def recall(copies: Sequence[rb.Probe], known: Sequence[rb.Probe], thresholds: dict[str, Thresholds],
           joint_max: float) -> dict[str, Any]:
    """Recall of the corpus copies against the corpus originals with ``thresholds`` (all and per transform)."""
    labels = [p.origin for p in known]
    plain = {name: [_plain(p, name) or "" for p in known] for name in ALGORITHMS}
    pdq = rb.distances(copies, plain["pdq"], "pdq")
    phash = rb.distances(copies, plain["phash"], "phash")
    counts = rb.tally(copies, pdq, phash, rb.verdicts(pdq, phash, labels, thresholds, joint_max),
                      rb.picture_groups(known))
    return {group: {m: counts[group][m].row()["recall"] for m in ("match", "match_or_review")}
            for group in ["all", *transforms.TRANSFORMS] if group in counts}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Hash (or reuse), build the lists, look every non-matching image up, count."""
    started = time.process_time()
    probes = hash_inputs(args.corpus, args.limit, args.queries, args.images)
    hashing_s = time.process_time() - started
    known, queries = probes["known"], probes["queries"]
    images = [p for p in probes["list_images"] if p.group in args.list_families]
    settings = MatcherSettings()
    result: dict[str, Any] = {
        "benchmark": "list_scale", "queries": len(queries), "list_images": len(images),
        "list_families": sorted(args.list_families),
        "known_originals": len(known), "copies": len(probes["copies"]),
        "configured": {k: v.model_dump() for k, v in settings.thresholds.items() if k in ALGORITHMS},
        "joint_max": settings.joint_max, "model": {}, "sizes": {},
        "cpu_seconds_hashing": round(hashing_s, 1),
    }
    real: dict[str, npt.NDArray[np.uint8]] = {}
    fitted = {}
    for name, nbits in ALGORITHMS.items():
        real[name] = np.concatenate([_packed([_plain(p, name) or "" for p in known], nbits),
                                     _packed([v for p in images if (v := _plain(p, name))], nbits)])
        fit_from = _bits([v for p in images if (v := _plain(p, name))], nbits)
        fitted[name] = fit_mixture(fit_from, COMPONENTS, seed=1)
        held_out = _packed([v for p in queries[:: max(1, len(queries) // 2000)] if (v := _plain(p, name))], nbits)
        sample = synthetic_codes(*fitted[name], len(fit_from), seed=2)
        uniform = np.random.default_rng(3).integers(0, 256, size=sample.shape, dtype=np.uint8)
        result["model"][name] = {
            "components": COMPONENTS,
            "real": _pair_stats(held_out, real[name][len(known):], CHECK_RADII[name]),
            "synthetic": _pair_stats(held_out, sample, CHECK_RADII[name]),
            "uniform_bits": _pair_stats(held_out, uniform, CHECK_RADII[name]),
        }
    for size in args.sizes:
        lookup_started = time.process_time()
        hits: dict[str, list[dict[int, int]]] = {}
        curves: dict[str, list[dict[str, Any]]] = {}
        for name in ALGORITHMS:
            synthetic = synthetic_codes(*fitted[name], max(0, size - len(real[name])), seed=size)
            entries = np.concatenate([real[name], synthetic])[:size]
            hits[name] = nearest_hits(queries, name, entries, QUERY_RADIUS[name])
            nearest = np.array([min(h.values(), default=999) for h in hits[name]])
            curves[name] = [{"radius": r, "images": int((nearest <= r).sum()),
                             "per_10k": round(1e4 * int((nearest <= r).sum()) / len(queries), 2),
                             "per_10k_upper95": round(1e4 * rb.upper_bound(int((nearest <= r).sum()), len(queries)), 2)}
                            for r in range(0, QUERY_RADIUS[name] + 1, 2)]
        effective = settings.effective_thresholds({name: size for name in ALGORITHMS})
        result["sizes"][str(size)] = {
            "entries": size,
            "thresholds": {k: effective[k].model_dump() for k in ALGORITHMS},
            "false": false_decisions(hits, effective, settings.joint_max, len(known), len(images)),
            "false_with_configured": false_decisions(hits, dict(settings.thresholds), settings.joint_max,
                                                     len(known), len(images)),
            "nearest_by_radius": curves,
            "recall": recall(probes["copies"], known, effective, settings.joint_max),
            "cpu_seconds_lookup": round(time.process_time() - lookup_started, 1),
        }
    result["largest_list_per_radius"] = largest_lists(result)
    result["recall_configured"] = recall(probes["copies"], known, dict(settings.thresholds), settings.joint_max)
    result["machine"] = {"python": platform.python_version(), "processor": platform.processor() or platform.machine()}
    return result


def table(result: dict[str, Any]) -> str:
    """False matches and reviews per list size, and the recall the size's thresholds cost."""
    lines = ["| list entries | pHash match/review | false match per 10k (95% bound) | false review per 10k "
             "(95% bound) | same with pHash review 8 | match-or-review recall (review 8) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    configured = result["recall_configured"]["all"]["match_or_review"]
    for size, row in result["sizes"].items():
        t = row["thresholds"]["phash"]
        f, c = row["false"], row["false_with_configured"]
        lines.append(
            f"| {int(size):,} | {t['match']}/{t['review']} | {f['match']['images']}: {f['match']['per_10k']:g} "
            f"(<= {f['match']['per_10k_upper95']:g}) | {f['review']['images']}: {f['review']['per_10k']:g} "
            f"(<= {f['review']['per_10k_upper95']:g}) | {c['match_or_review']['images']} | "
            f"{100 * row['recall']['all']['match_or_review']:.1f}% ({100 * configured:.1f}%) |")
    return "\n".join(lines)


def largest_lists(result: dict[str, Any], algorithm: str = "phash") -> dict[str, Any]:
    """Per radius, the largest list that keeps false reviews <= 1 per 10,000 images, read off the largest size.

    Images hit grow about linearly with the list (each entry is one more chance), so ``k`` of
    ``m`` images hit within ``r`` bits at ``n`` entries puts the bound at ``n * m / (10,000 k)``
    entries; none hit only says "at least ``n``".
    """
    size, row = max(result["sizes"].items(), key=lambda kv: int(kv[0]))
    out: dict[str, Any] = {}
    for point in row["nearest_by_radius"][algorithm]:
        hit = point["images"]
        out[str(point["radius"])] = (int(int(size) * result["queries"] / (1e4 * hit)) if hit
                                     else f">= {int(size)}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the list-scale benchmark."""
    parser.add_argument("--corpus", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 1_000_000])
    parser.add_argument("--limit", type=int, default=40, help="corpus originals whose copies measure recall")
    parser.add_argument("--queries", type=int, default=10_000, help="benign non-matching query images")
    parser.add_argument("--images", type=int, default=5_000, help="benign images hashed for the list side")
    parser.add_argument("--list-families", type=lambda s: set(s.split(",")), default={"imagegen"},
                        help="generated families whose images join the list (a CSAM list holds photos; documents, "
                             "charts and banners made from one template collide with each other by pHash)")
    parser.add_argument("--out", type=Path, default=RESULTS)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run with parsed options: write the JSON, print the table."""
    result = measure(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(json.dumps({k: result[k] for k in ("model", "largest_list_per_radius")}, indent=1))
    for size, row in result["sizes"].items():
        print(size, json.dumps(row["nearest_by_radius"]["phash"]), row["cpu_seconds_lookup"], "CPU-s")
    return result


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--hash-shard"]:  # fill one part of the query cache (run one per core)
        started = time.process_time()
        cache_dir = DEFAULT_DIR / "robustness"
        got = query_probes(10_000, cache_dir, int(sys.argv[2]), 2)
        if sys.argv[2] == "1":
            got += list_images(5_000, cache_dir)
        print(len(got), round(time.process_time() - started, 1), "CPU-s")
    else:
        from benchmarks.run import main

        main(["list_scale", *sys.argv[1:]])

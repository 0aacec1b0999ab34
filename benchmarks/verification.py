"""Benchmarks, verification: local features confirm copies in the wider band, reject the rest; at what CPU.

Measures ``matcher/verify.py``.

The known list is the corpus's first ``--limit`` originals (PDQ and pHash as given, as in
:mod:`benchmarks.robustness`, whose cached hashes this reuses), with a reduced reference of each
(what ``hashset add-images`` keeps). A query reaches verification as in the matcher stage: its
fused decision is ``none`` and some entry lies in the band (beyond the review threshold, within
``[matcher.verify] band``). Measured:

- **true copies**: the edited copies (``benchmarks/transforms.py``) that reach verification
  through their own original, and how many verify, per transform; their band hits on *other*
  entries must be rejected (a verified one would be a false match);
- **non-matching images**: every band hit of the distractors (``benchmarks/distractors.py``),
  plus the ``--nearest`` distractors closest to the list whatever their distance, each
  verified against its nearest entry: the reject rate;
- **deliberately near benign pairs**: each original against its nearest *other* picture of the
  list (siblings: same source, same style), the two halves of one original (other crops of one
  scene, no shared content), and look-alikes (another picture's fine detail over the
  original's coarse layout: close in PDQ by construction);
- **CPU**: process CPU seconds per verified candidate (decode and reduce the crawled image,
  ORB on both, matching, RANSAC; the reference is read from its kept PNG), the share of crawled
  (non-matching) images that reach verification, and so the CPU per crawled image.

    python -m benchmarks.verification [--limit 100] [--distractors 10000] [--figures 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from benchmarks import distractors as dist
from benchmarks import transforms
from benchmarks.corpus import DEFAULT_DIR, load
from benchmarks.robustness import (
    KNOWN_FIGURE_PDQ,
    Distances,
    Probe,
    copies,
    distances,
    distractor_probes,
    known_list,
    picture_groups,
    upper_bound,
    verdicts,
)
from core.blobs import LocalBlobStore
from core.messages import MatchDecision
from hashing.hasher import HashPlan, compute_hashes
from matcher.settings import MatcherSettings, VerifySettings
from matcher.verify import Grey, Verifier, VerifyOutcome, keep_reference, orient, reduce_image, reference_key

RESULTS = Path(__file__).resolve().parent / "results" / "verification.json"


@dataclass
class Timed:
    """CPU seconds of each verification and the outcomes."""

    seconds: list[float]
    outcomes: Counter[str]

    def row(self) -> dict[str, Any]:
        n = sum(self.outcomes.values())
        out: dict[str, Any] = {"pairs": n, **{str(o): self.outcomes.get(str(o), 0) for o in VerifyOutcome
                                              if o not in (VerifyOutcome.UNAVAILABLE, VerifyOutcome.FAILED)}}
        if n:
            out["verified_share"] = round(self.outcomes.get("verified", 0) / n, 4)
            out["verified_per_10k_upper95"] = round(10_000 * upper_bound(self.outcomes.get("verified", 0), n), 1)
        return out


class Bench:
    """Verifies pairs as the stage does: the crawled body decoded and reduced, the reference read from its PNG."""

    def __init__(self, settings: VerifySettings, references: LocalBlobStore) -> None:
        self.settings = settings
        self.verifier = Verifier(settings)
        self.references = references
        self.timed: dict[str, Timed] = defaultdict(lambda: Timed([], Counter()))
        self.verified_others: list[dict[str, str]] = []

    def reference(self, sha: str) -> Grey:
        return reduce_image(self.references.get(reference_key(sha)), self.settings.max_side)

    def verify(self, kind: str, body: bytes, sha: str, variant: str = "", what: str = "") -> VerifyOutcome:
        started = time.process_time()
        query = orient(reduce_image(body, self.settings.max_side), variant)
        result = self.verifier.verify(query, self.reference(sha))
        held = self.timed[kind]
        held.seconds.append(time.process_time() - started)
        held.outcomes[str(result.outcome)] += 1
        if result.outcome is VerifyOutcome.VERIFIED and kind != "true_copies":
            self.verified_others.append({"kind": kind, "pair": what, "reason": result.reason})
        return result.outcome


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _band_rows(d: Distances, row: int, review: int, band: int) -> list[int]:
    values = d.every[row]
    return [int(e) for e in np.flatnonzero((values > review) & (values <= band))]


def _distractor_bodies(others: Sequence[Probe], wanted: set[int], corpus: Path, figures: int) -> dict[int, bytes]:
    """Bytes of the wanted distractors, made again from their seeds (figures: read again from the package)."""
    out: dict[int, bytes] = {}
    figure_rows = {others[i].origin: i for i in wanted if others[i].group == "figures"}
    for i in wanted:
        probe = others[i]
        if probe.group != "figures":
            seed = int(probe.origin.rsplit("(", 1)[1].rstrip(")"))
            out[i] = dist.generated(probe.group, seed - dist.SEED_BASE).data
    if figure_rows:
        for made in dist.figures(corpus / "cache", figures):
            if made.origin in figure_rows:
                out[figure_rows[made.origin]] = made.data
    return out


def _halves(image: Image.Image) -> tuple[Image.Image, Image.Image]:
    w, h = image.size
    if w >= h:
        return image.crop((0, 0, w // 2, h)), image.crop((w // 2, 0, w, h))
    return image.crop((0, 0, w, h // 2)), image.crop((0, h // 2, w, h))


def _look_alike(image: Image.Image, other: Image.Image) -> Image.Image:
    """``other``'s fine detail over ``image``'s coarse layout (as in tests/unit/matcher/test_verify.py)."""
    coarse = image.filter(ImageFilter.GaussianBlur(max(image.size) / 40))
    other = other.convert("RGB").resize(image.size)
    detail = np.asarray(other, np.float32) - np.asarray(other.filter(ImageFilter.GaussianBlur(3)), np.float32)
    return Image.fromarray(np.clip(np.asarray(coarse, np.float32) + 3.0 * detail, 0, 255).astype(np.uint8))


def _stats(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {}
    a = np.asarray(seconds) * 1000
    return {"mean_ms": round(float(a.mean()), 2), "p50_ms": round(float(np.median(a)), 2),
            "p95_ms": round(float(np.quantile(a, 0.95)), 2), "n": len(a)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Hash (or reuse) the robustness probes, then verify every pair that reaches verification."""
    settings = VerifySettings(enabled=True, band={"pdq": args.pdq_band, "phash": args.phash_band})
    matcher = MatcherSettings(verify=settings)
    review = {name: matcher.thresholds[name].review for name in ("pdq", "phash")}
    band = dict(settings.band)
    paths = load(args.corpus)[: args.limit]
    cache = args.corpus / "robustness"
    known = known_list(paths, cache)
    labels = [p.origin for p in known]
    known_pdq = [next(h.value for h in p.hashes if h.algorithm == "pdq" and not h.variant) for p in known]
    known_phash = [next(h.value for h in p.hashes if h.algorithm == "phash" and not h.variant) for p in known]
    names = args.transforms.split(",") if args.transforms else list(transforms.TRANSFORMS)
    queries = copies(paths, names, args.seed, cache)
    others = distractor_probes(args.distractors, args.figures, args.corpus, cache)
    fig_rows = [p for p in others if p.group == "figures"]
    fig_pdq = distances(fig_rows, known_pdq, "pdq")
    shows_known = {id(p) for row, p in enumerate(fig_rows) if fig_pdq.every[row].min(initial=999) <= KNOWN_FIGURE_PDQ}
    others = [p for p in others if id(p) not in shows_known]

    # References, as `hashset add-images` keeps them (timed: the list-side cost).
    store = LocalBlobStore(args.corpus / "verification-references")
    shas: list[str] = []
    started = time.process_time()
    for path in paths:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if not store.exists(reference_key(sha)):
            keep_reference(store, sha, data, settings.max_side)
        shas.append(sha)
    reference_s = time.process_time() - started
    reference_bytes = [len(store.get(reference_key(s))) for s in shas]
    bench = Bench(settings, store)

    # True copies ------------------------------------------------------------------------------------
    groups = picture_groups(known)  # near-duplicate originals: a copy verified against its twin is no error
    pdq_c, phash_c = distances(queries, known_pdq, "pdq"), distances(queries, known_phash, "phash")
    thresholds = matcher.thresholds
    decided = verdicts(pdq_c, phash_c, labels, thresholds, matcher.joint_max)
    per_transform: dict[str, Counter[str]] = defaultdict(Counter)
    wrong_entry = Counter[str]()
    images: dict[int, Image.Image] = {}

    def original(i: int) -> Image.Image:
        if i not in images:
            with Image.open(paths[i]) as opened:
                images[i] = opened.convert("RGB")
        return images[i]

    for row, probe in enumerate(queries):
        tally = per_transform[probe.group]
        tally["copies"] += 1
        decision, _, _ = decided[row]
        if decision is not MatchDecision.NONE:
            tally["found_without_verification"] += 1
            continue
        entries: dict[int, str] = {}
        for name, d in (("pdq", pdq_c), ("phash", phash_c)):
            for e in _band_rows(d, row, review[name], band[name]):
                entries.setdefault(e, d.variants[d.via[row, e]] if d.via[row, e] >= 0 else "")
        if not entries:
            tally["out_of_band"] += 1
            continue
        t = names.index(probe.group)
        rng = np.random.default_rng([args.seed, probe.own, t])
        body = transforms.apply(probe.group, original(probe.own), rng).encode()
        if probe.own in entries:
            tally["in_band"] += 1
            outcome = bench.verify("true_copies", body, shas[probe.own], entries[probe.own])
            tally[str(outcome)] += 1
        for e, variant in entries.items():
            if e != probe.own:
                kind = "copies_same_picture" if groups[e] == groups[probe.own] else "copies_wrong_entry"
                what = f"{probe.group} of {labels[probe.own]} vs {labels[e]}"
                wrong_entry[str(bench.verify(kind, body, shas[e], variant, what))] += 1

    # Non-matching images ------------------------------------------------------------------------------
    pdq_o, phash_o = distances(others, known_pdq, "pdq"), distances(others, known_phash, "phash")
    decided_o = verdicts(pdq_o, phash_o, labels, thresholds, matcher.joint_max)
    band_pairs: dict[int, dict[int, str]] = {}
    for row in range(len(others)):
        if decided_o[row][0] is not MatchDecision.NONE:
            continue  # a false match or review without verification: robustness counts those
        entries = {}
        for name, d in (("pdq", pdq_o), ("phash", phash_o)):
            for e in _band_rows(d, row, review[name], band[name]):
                entries.setdefault(e, d.variants[d.via[row, e]] if d.via[row, e] >= 0 else "")
        if entries:
            band_pairs[row] = entries
    reach_by_algorithm = {
        name: sum(1 for row in range(len(others)) if _band_rows(d, row, review[name], band[name]))
        for name, d in (("pdq", pdq_o), ("phash", phash_o))
    }
    relative = np.minimum(pdq_o.every.min(axis=1) / 256, phash_o.every.min(axis=1) / 64)
    nearest = [int(r) for r in np.argsort(relative)[: args.nearest]]
    wanted = set(band_pairs) | set(nearest)
    bodies = _distractor_bodies(others, wanted, args.corpus, args.figures)
    for row, entries in band_pairs.items():
        for e, variant in entries.items():
            bench.verify("distractor_band_hits", bodies[row], shas[e], variant, f"{others[row].origin} vs {labels[e]}")
    for row in nearest:
        e = int(np.argmin(np.minimum(pdq_o.every[row] / 256, phash_o.every[row] / 64)))
        bench.verify("nearest_distractors", bodies[row], shas[e], what=f"{others[row].origin} vs {labels[e]}")

    # Deliberately near benign pairs ------------------------------------------------------------------
    pdq_k = distances(known, known_pdq, "pdq")
    sibling_pdq = []
    for i in range(len(known)):
        others_i = [j for j in range(len(known)) if groups[j] != groups[i]]
        j = min(others_i, key=lambda j: int(pdq_k.plain[j, i]))
        sibling_pdq.append(int(pdq_k.plain[j, i]))
        bench.verify("siblings", paths[j].read_bytes(), shas[i], what=f"{labels[j]} vs {labels[i]}")
    look_pdq: list[int] = []
    for i in range(len(known)):
        left, right = _halves(original(i))
        half_store_sha = f"half{i:04d}" + "0" * 56
        keep_reference(store, half_store_sha, _jpeg(left), settings.max_side)
        bench.verify("other_crops", _jpeg(right), half_store_sha, what=f"halves of {labels[i]}")
        alike = _jpeg(_look_alike(original(i), original((i + len(known) // 2) % len(known))))
        pdq = next(h.value for h in compute_hashes(alike, plan=HashPlan(algorithms=("pdq",))).hashes if not h.variant)
        look_pdq.append(int(bin(int(pdq, 16) ^ int(known_pdq[i], 16)).count("1")))
        bench.verify("look_alikes", alike, shas[i], what=f"look-alike of {labels[i]}")

    all_seconds = [s for t in bench.timed.values() for s in t.seconds]
    reach = len(band_pairs) / len(others)
    pairs_per_reaching = sum(len(v) for v in band_pairs.values()) / max(1, len(band_pairs))
    per_candidate = float(np.mean(all_seconds)) if all_seconds else 0.0
    true_rows = {name: dict(c) for name, c in per_transform.items()}
    in_band = sum(c["in_band"] for c in per_transform.values())
    verified = sum(c["verified"] for c in per_transform.values())
    return {
        "benchmark": "verification",
        "known_entries": len(known),
        "band": band,
        "review": review,
        "settings": settings.model_dump(mode="json"),
        "true_copies": {
            "copies": len(queries),
            "none_without_verification": sum(c["copies"] - c["found_without_verification"]
                                             for c in per_transform.values()),
            "in_band": in_band,
            "verified": verified,
            "accept_rate": round(verified / in_band, 4) if in_band else None,
            "by_transform": true_rows,
            "wrong_entry_band_hits": dict(wrong_entry),
        },
        "non_matching": {
            "distractor_images": len(others),
            "reaching_verification": len(band_pairs),
            "reach_share": round(reach, 5),
            "reach_by_algorithm": reach_by_algorithm,
            "band_pairs_per_reaching_image": round(pairs_per_reaching, 2),
        },
        "pairs": {kind: t.row() for kind, t in bench.timed.items()},
        "verified_other_pairs": bench.verified_others,
        "near_pairs_pdq": {"siblings": _quantiles(sibling_pdq), "look_alikes": _quantiles(look_pdq)},
        "cpu": {
            "per_candidate": _stats(all_seconds),
            "by_kind": {kind: _stats(t.seconds) for kind, t in bench.timed.items()},
            "per_crawled_image_ms": round(1000 * per_candidate * reach * pairs_per_reaching, 4),
            "reference_per_list_image_ms": round(1000 * reference_s / max(1, len(paths)), 2),
            "reference_png_bytes_mean": int(np.mean(reference_bytes)) if reference_bytes else 0,
        },
        "index_ms_per_query": index_cost(args.index_entries, 500, {"pdq": (31, 40, 48, 64), "phash": (8, 10, 14)})
        if args.index_entries else {},
        "index_entries": args.index_entries,
        "seed": args.seed,
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
    }


def index_cost(entries: int, queries: int, radii: dict[str, Sequence[int]]) -> dict[str, float]:
    """CPU ms per query of the ``auto`` index over ``entries`` random codes, per algorithm and radius.

    While verification is on, every list is searched to the band's radius, not the review
    threshold's; random codes are far apart, as real lists are, so this is the search cost alone.
    """
    from matcher.registry import create_index

    rng = np.random.default_rng(1)
    out: dict[str, float] = {}
    for name, chosen in radii.items():
        nbytes = {"pdq": 32, "phash": 8}[name]
        codes = rng.integers(0, 256, size=(entries, nbytes), dtype=np.uint8)
        asked = rng.integers(0, 256, size=(queries, nbytes), dtype=np.uint8)
        for radius in chosen:
            index = create_index("auto", nbytes * 8, radius_hint=radius)
            index.build(np.arange(entries, dtype=np.int64), codes)
            started = time.process_time()
            index.query(asked, radius)
            out[f"{name}@{radius}"] = round(1000 * (time.process_time() - started) / queries, 3)
    return out


def _quantiles(values: Sequence[int]) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values)
    return {"min": int(a.min()), "median": float(np.median(a)), "max": int(a.max()),
            "within_band": int(((a > 31) & (a <= 64)).sum()), "within_review": int((a <= 31).sum())}


def table(result: dict[str, Any]) -> str:
    """Accept rate per transform (copies in the band), then reject rates per kind of pair, then CPU."""
    lines = ["| transform | copies | found without | in band | verified | rejected | inconclusive |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, c in result["true_copies"]["by_transform"].items():
        lines.append(f"| {name} | {c.get('copies', 0)} | {c.get('found_without_verification', 0)} | "
                     f"{c.get('in_band', 0)} | {c.get('verified', 0)} | {c.get('rejected', 0)} | "
                     f"{c.get('inconclusive', 0)} |")
    lines += ["", "| pairs | n | verified | rejected | inconclusive | verified per 10k (95% upper) | CPU mean ms |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for kind, row in result["pairs"].items():
        cpu = result["cpu"]["by_kind"].get(kind, {})
        lines.append(f"| {kind} | {row['pairs']} | {row.get('verified', 0)} | {row.get('rejected', 0)} | "
                     f"{row.get('inconclusive', 0)} | {row.get('verified_per_10k_upper95', '-')} | "
                     f"{cpu.get('mean_ms', '-')} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the verification benchmark."""
    parser.add_argument("--corpus", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--limit", type=int, default=100, help="use only the first N corpus images as the list")
    parser.add_argument("--transforms", default="", help="comma-separated subset of the transforms (default all)")
    parser.add_argument("--distractors", type=int, default=10_000, help="generated non-matching images")
    parser.add_argument("--figures", type=int, default=2_000, help="at most this many OpenCV documentation figures")
    parser.add_argument("--nearest", type=int, default=300, help="also verify the N distractors nearest the list")
    parser.add_argument("--pdq-band", type=int, default=VerifySettings().band["pdq"])
    parser.add_argument("--phash-band", type=int, default=VerifySettings().band["phash"])
    parser.add_argument("--index-entries", type=int, default=100_000,
                        help="also time the index search at each radius over this many random codes (0: skip)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run with parsed options: write the JSON, print the tables."""
    result = measure(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(json.dumps({"true_copies": {k: v for k, v in result["true_copies"].items() if k != "by_transform"},
                      "non_matching": result["non_matching"], "cpu": result["cpu"]}, indent=1))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: ``python -m benchmarks.verification``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.verification", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()

"""Benchmarks, robustness: recall on edited copies of known pictures, false matches on others, and calibration.

The known list holds the corpus's originals (``benchmarks/corpus.py``) as a real list does:
their PDQ and pHash, nothing else. Queries are edited copies (``benchmarks/transforms.py``),
hashed end to end as the pipeline hashes a fetched body (:func:`hashing.hasher.compute_hashes`
with the default plan: the image as given, PDQ's rotations and flips, the query-side variants of
``hashing/variants.py``). Non-matching queries are distractors (``benchmarks/distractors.py``),
hashed the same way; a false match is counted per distractor IMAGE (any of its hashes hitting
any known entry), so "per 10,000" means per 10,000 non-matching images checked against the
whole list.

Reported, per transform and overall:

- ``pdq_plain``: PDQ of the image as given, radius 31, quality >= 50 (Meta's reference use,
  the anchor of Thorn's ``perception`` benchmark);
- ``pdq``: PDQ with rotations, flips and variants, radius 31;
- ``phash``: pHash of the image as given and of the variants, radius 8 (the customary DCT-pHash
  near-duplicate bound);
- ``match`` and ``match_or_review``: orbweaver's fused decision (:mod:`matcher.decision`) with
  the matcher's thresholds (``matcher/settings.py`` defaults unless overridden).

A copy counts as found when its own original is hit (for the decision: the decision is not
``none`` and its own original is among the hits; ``match`` also needs the deciding hit to be
its own original). A hit on another entry is a false match, for copies as for distractors.

The calibration curve (``--calibrate``) gives, per algorithm and radius, the recall over every
copy and the false-match rate over the distractors with its 95% upper bound (exact binomial;
3/M when none is seen). Hashes are kept in ``benchmarks/.corpus/robustness/`` (JSON lines) so
a re-run with other thresholds does not hash again.

With ``--list-variants`` the same probes are also matched against the **image-backed** list:
each original's hashes plus those of its list-side variants (:mod:`hashing.list_variants`), a
hit on a variant counting for its original as the matcher folds it; reported beside the
hash-only list per transform, under both decision rules for variants (``list_variants``).

    python -m benchmarks.run robustness [--limit N] [--distractors 10000] [--calibrate] [--list-variants]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from benchmarks import distractors as dist
from benchmarks import transforms
from benchmarks.corpus import DEFAULT_DIR, load
from core.messages import HashValue, MatchDecision, MatchHit
from hashing import list_variants
from hashing.hasher import HashPlan, compute_hashes_batch
from hashing.list_variants import list_variant_hashes_of
from matcher.decision import decide
from matcher.settings import MatcherSettings, Thresholds

RESULTS = Path(__file__).resolve().parent / "results" / "robustness.json"
PDQ_RADIUS = 31
PHASH_RADIUS = 8
MIN_QUALITY = 50
FAMILY_SHARE = {"imagegen": 0.4, "graphics": 0.2, "screens": 0.15, "padded": 0.1}
"""Shares of the generated distractors; ``figures`` adds every usable OpenCV figure on top."""
SAME_PICTURE = {"pdq": 40, "phash": 10}
"""Two originals this close (as given) are near-duplicates of each other (stereo pairs, a
calibration series): a copy of one that hits the other is not a false match."""
KNOWN_FIGURE_PDQ = 80
"""A figure within this PDQ distance of a known original (as given or any variant) is set aside:
it shows the corpus's photo (checked by eye on a sample), so it is not a non-matching image.
Far above every radius calibrated here, so no near miss is hidden by it."""
BITS = {"pdq": 256, "phash": 64}
NO_HASH = np.iinfo(np.uint16).max
"""Distance recorded where a probe has no hash of the algorithm (a PDQ of quality under 50)."""
LIST_SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
"""List sizes the false-match rate per image is extrapolated to (see :func:`pair_tail`)."""
HASH_SET = "robustness"


@dataclass
class Probe:
    """One query image: an edited copy of known entry ``own``, or a distractor (``own == -1``)."""

    group: str
    own: int
    origin: str
    hashes: list[HashValue] = field(default_factory=list)


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())


PLAN = HashPlan(algorithms=("pdq", "phash"))


def _hash_all(bodies: Iterator[tuple[Probe, bytes]], total: int, label: str, batch: int = 32) -> list[Probe]:
    done: list[Probe] = []
    pending: list[tuple[Probe, bytes]] = []
    with _progress() as progress:
        task = progress.add_task(label, total=total)

        def flush() -> None:
            outcomes = compute_hashes_batch([body for _, body in pending], plan=PLAN)
            for (probe, _), outcome in zip(pending, outcomes, strict=True):
                probe.hashes = outcome.hashes
                done.append(probe)
            progress.advance(task, len(pending))
            pending.clear()

        for item in bodies:
            pending.append(item)
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
    return done


@cache
def _behaviour() -> str:
    """Digest of what the edits, the distractor generators and the hashing do, on small canary images.

    Part of every cache key, so a change in any of them (not a comment or a reformatting) makes
    the benchmark hash again.
    """
    from orbweaver.demo.imagegen import generate

    canary = generate(1, (192, 144))
    bodies = [transforms.apply(name, canary, np.random.default_rng(k)).encode()
              for k, name in enumerate(transforms.TRANSFORMS)]
    bodies += [dist.generated(family, 0).data for family in FAMILY_SHARE]
    digest = hashlib.sha256()
    for body, outcome in zip(bodies, compute_hashes_batch(bodies, plan=PLAN), strict=True):
        digest.update(hashlib.sha256(body).digest())
        digest.update(json.dumps([h.model_dump() for h in outcome.hashes], sort_keys=True).encode())
    return digest.hexdigest()


def _cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([parts, _behaviour()], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cached(path: Path, make: Any) -> list[Probe]:
    """Probes from ``path`` (JSON lines) if it exists, else made by ``make()`` and written there."""
    if path.is_file():
        loaded = []
        for line in path.read_text().splitlines():
            row = json.loads(line)
            loaded.append(Probe(row["group"], row["own"], row["origin"], [HashValue(**h) for h in row["hashes"]]))
        return loaded
    probes: list[Probe] = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for p in probes:
            row = {"group": p.group, "own": p.own, "origin": p.origin, "hashes": [h.model_dump() for h in p.hashes]}
            out.write(json.dumps(row) + "\n")
    return probes


def _fingerprint(paths: Sequence[Path]) -> list[tuple[str, int, int]]:
    """Names, sizes and modification times: a rebuilt corpus gets new cache files."""
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths]


def known_list(paths: Sequence[Path], cache: Path) -> list[Probe]:
    """The originals, hashed as given (what a list made from them holds), plus their variants' hashes."""
    def make() -> list[Probe]:
        bodies = ((Probe("original", i, path.name), path.read_bytes()) for i, path in enumerate(paths))
        return _hash_all(bodies, len(paths), "originals")

    return _cached(cache / f"originals-{_cache_key(_fingerprint(paths))}.jsonl", make)


def known_variants(paths: Sequence[Path], cache: Path) -> list[Probe]:
    """The list-side variants of every original (:func:`hashing.list_variants.list_variant_hashes_of`)."""
    def make() -> list[Probe]:
        out = []
        with _progress() as progress:
            task = progress.add_task("list-side variants", total=len(paths))
            for i, path in enumerate(paths):
                out.append(Probe("original", i, path.name, list_variant_hashes_of(path.read_bytes())))
                progress.advance(task)
        return out

    family = [v.name for v in list_variants.crop_family(Image.new("L", (64, 64)))]
    return _cached(cache / f"list-variants-{_cache_key(_fingerprint(paths), family)}.jsonl", make)


def copies(paths: Sequence[Path], names: Sequence[str], seed: int, cache: Path) -> list[Probe]:
    """Every transform of every original, hashed end to end."""
    def bodies() -> Iterator[tuple[Probe, bytes]]:
        for i, path in enumerate(paths):
            with Image.open(path) as opened:
                image = opened.convert("RGB")
            for t, name in enumerate(names):
                rng = np.random.default_rng([seed, i, t])
                yield Probe(name, i, path.name), transforms.apply(name, image, rng).encode()

    def make() -> list[Probe]:
        return _hash_all(bodies(), len(paths) * len(names), "edited copies")

    key = _cache_key(_fingerprint(paths), list(names), seed)
    return _cached(cache / f"copies-{key}.jsonl", make)


def distractor_probes(count: int, figures: int, corpus: Path, cache: Path) -> list[Probe]:
    """``count`` generated distractors split by :data:`FAMILY_SHARE`, then up to ``figures`` figures."""
    counts = {family: round(count * share) for family, share in FAMILY_SHARE.items()}
    counts["imagegen"] += count - sum(counts.values())

    def bodies() -> Iterator[tuple[Probe, bytes]]:
        for family, n in counts.items():
            for index in range(n):
                made = dist.generated(family, index)
                yield Probe(family, -1, made.origin), made.data
        if figures:
            for made in dist.figures(corpus / "cache", figures):
                yield Probe(made.family, -1, made.origin), made.data

    def make() -> list[Probe]:
        return _hash_all(bodies(), count + figures, "distractors")

    return _cached(cache / f"distractors-{_cache_key(counts, figures)}.jsonl", make)


# Matching ------------------------------------------------------------------------------------


def _codes(values: Sequence[str], nbytes: int) -> npt.NDArray[np.uint64]:
    raw = np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(len(values), nbytes)
    return raw.view(">u8").astype(np.uint64)


@dataclass
class Distances:
    """Per probe and known entry, the smallest Hamming distance of one algorithm.

    Attributes:
        plain: Over the probe's hash of the image as given only (``variant == ""``).
        every: Over all its hashes (rotations, flips, variants).
        via: For ``every``, which variant gave that distance (index into ``variants``).
        variants: Variant names.
    """

    plain: npt.NDArray[np.uint16]
    every: npt.NDArray[np.uint16]
    via: npt.NDArray[np.int16]
    variants: list[str]


def distances(probes: Sequence[Probe], known: Sequence[str], algorithm: str) -> Distances:
    """Brute-force Hamming distances from every probe's hashes of ``algorithm`` to the known hashes.

    PDQ hashes under quality 50 are ignored on the query side, as the matcher ignores them.
    """
    nbytes = BITS[algorithm] // 8
    table = _codes(known, nbytes)
    plain = np.full((len(probes), len(known)), NO_HASH, dtype=np.uint16)
    every = np.full((len(probes), len(known)), NO_HASH, dtype=np.uint16)
    via = np.full((len(probes), len(known)), -1, dtype=np.int16)
    variants: list[str] = []
    index: dict[str, int] = {}
    rows: list[int] = []
    values: list[str] = []
    kinds: list[int] = []
    for row, probe in enumerate(probes):
        for h in probe.hashes:
            if h.algorithm != algorithm or (h.quality is not None and h.quality < MIN_QUALITY):
                continue
            rows.append(row)
            values.append(h.value)
            kinds.append(index.setdefault(h.variant, len(index)))
    variants = list(index)
    if not values:
        return Distances(plain, every, via, variants)
    plain_kind = index.get("", -1)
    chunk = max(1, 4_000_000 // max(1, len(known)))
    for start in range(0, len(values), chunk):
        codes = _codes(values[start : start + chunk], nbytes)
        d = np.bitwise_count(codes[:, None, :] ^ table[None, :, :]).sum(axis=2).astype(np.uint16)
        for k in range(len(d)):
            row, kind = rows[start + k], kinds[start + k]
            better = d[k] < every[row]
            every[row] = np.where(better, d[k], every[row])
            via[row] = np.where(better, kind, via[row])
            if kind == plain_kind:
                plain[row] = np.minimum(plain[row], d[k])
    return Distances(plain, every, via, variants)


@dataclass
class Columns:
    """What each known hash (a column of :class:`Distances`) is: its parent original and list-side variant."""

    owners: list[int]
    names: list[str]


def verdicts(pdq: Distances, phash: Distances, labels: Sequence[str], thresholds: dict[str, Thresholds],
             joint_max: float, columns: dict[str, Columns] | None = None, *, confirm_variants: bool = True,
             ) -> list[tuple[MatchDecision, int, set[int]]]:
    """The fused decision per probe: (decision, original of the deciding hit or -1, originals hit).

    With ``columns`` (image-backed lists) the known hashes include list-side variants: a hit on
    one names its parent original and carries the variant name, as the matcher's hits do.
    """
    out = []
    review = {name: t.review for name, t in thresholds.items()}
    for row in range(len(pdq.every)):
        # per (algorithm, original) the closest column, as the engine folds variants into their parent
        closest: dict[tuple[str, int], tuple[int, str]] = {}
        for name, d in (("pdq", pdq), ("phash", phash)):
            for column in np.flatnonzero(d.every[row] <= review[name]):
                owner, variant = (columns[name].owners[column], columns[name].names[column]) if columns else (
                    int(column), "")
                distance = int(d.every[row, column])
                if (name, owner) not in closest or _rank(distance, variant, confirm_variants) < _rank(
                        *closest[name, owner], confirm_variants):
                    closest[name, owner] = (distance, variant)
        hits = [MatchHit(algorithm=name, distance=distance, hash_set=HASH_SET, entry_id=owner,
                         entry_label=labels[owner], query_hash="-", list_variant=variant)
                for (name, owner), (distance, variant) in closest.items()]
        verdict = decide(hits, thresholds, joint_max, confirm_variants=confirm_variants)
        out.append((verdict.decision, verdict.best.entry_id if verdict.best else -1, {o for _, o in closest}))
    return out


def _rank(distance: int, variant: str, confirm_variants: bool) -> tuple[int, int]:
    """How the matcher folds a parent's and its variants' hits (``matcher/engine.py``): smaller wins."""
    return (distance, variant != "") if confirm_variants else (variant != "", distance)


def by_owner(d: Distances, owners: Sequence[int], count: int) -> Distances:
    """Distances to each original: the smallest over its own hash and its list-side variants' hashes."""
    owner_of = np.asarray(owners)

    def fold(values: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint16]:
        out = np.full((values.shape[0], count), NO_HASH, dtype=np.uint16)
        for column in range(values.shape[1]):
            np.minimum(out[:, owner_of[column]], values[:, column], out=out[:, owner_of[column]])
        return out

    return Distances(fold(d.plain), fold(d.every), np.full((d.every.shape[0], count), -1, dtype=np.int16),
                     d.variants)


# Metrics ---------------------------------------------------------------------------------------


def upper_bound(failures: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) upper bound of a rate seen ``failures`` times in ``trials``."""
    if trials == 0:
        return 1.0
    if failures >= trials:
        return 1.0
    alpha = 1 - confidence
    if failures == 0:
        return float(1 - alpha ** (1 / trials))
    def tail(p: float) -> float:  # P(X <= failures) for X ~ Binomial(trials, p), summed in log space
        log_c = math.lgamma(trials + 1)
        return sum(
            math.exp(log_c - math.lgamma(k + 1) - math.lgamma(trials - k + 1) + k * math.log(p)
                     + (trials - k) * math.log1p(-p))
            for k in range(failures + 1)
        )

    low, high = failures / trials, 1.0
    for _ in range(60):  # bisection: the p at which seeing this few failures has probability alpha
        mid = (low + high) / 2
        low, high = (mid, high) if tail(mid) > alpha else (low, mid)
    return high


@dataclass
class Tally:
    """Found copies and false matches of one method over a group of probes."""

    copies: int = 0
    found: int = 0
    wrong: int = 0
    distractors: int = 0
    false: int = 0

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.copies:
            out.update(recall=round(self.found / self.copies, 4), copies=self.copies, wrong_entry=self.wrong)
        if self.distractors:
            out.update(false_matches=self.false, distractors=self.distractors,
                       per_10k=round(1e4 * self.false / self.distractors, 2),
                       per_10k_upper95=round(1e4 * upper_bound(self.false, self.distractors), 2))
        return out


METHODS = ("pdq_plain", "pdq", "phash", "match", "match_or_review")


def picture_groups(known: Sequence[Probe]) -> list[int]:
    """A group id per original; near-duplicate originals (:data:`SAME_PICTURE`) share one."""
    parent = list(range(len(known)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for name, limit in SAME_PICTURE.items():
        plain = [next(h.value for h in p.hashes if h.algorithm == name and not h.variant) for p in known]
        # every hash of one original (rotations, flips, variants) against the others as given:
        # a mirrored pair (two views of one scene) is one picture too
        close = distances(known, plain, name).every <= limit
        for i, j in zip(*np.nonzero(close), strict=True):
            if i != j:
                parent[root(int(i))] = root(int(j))
    return [root(i) for i in range(len(known))]


def tally(probes: Sequence[Probe], pdq: Distances, phash: Distances,
          decided: Sequence[tuple[MatchDecision, int, set[int]]], groups: Sequence[int]) -> dict[str, dict[str, Tally]]:
    """Per group (transform or family) and method, the counts; group ``"all"`` sums the copies.

    A hit on an original of the copy's own picture group counts as finding it; any other hit
    is a false match.
    """
    members: dict[int, set[int]] = defaultdict(set)
    for entry, picture in enumerate(groups):
        members[picture].add(entry)
    out: dict[str, dict[str, Tally]] = defaultdict(lambda: {m: Tally() for m in METHODS})
    for row, probe in enumerate(probes):
        own = members[groups[probe.own]] if probe.own >= 0 else set()
        hits = {
            "pdq_plain": set(np.flatnonzero(pdq.plain[row] <= PDQ_RADIUS).tolist()),
            "pdq": set(np.flatnonzero(pdq.every[row] <= PDQ_RADIUS).tolist()),
            "phash": set(np.flatnonzero(phash.every[row] <= PHASH_RADIUS).tolist()),
        }
        decision, best, entries = decided[row]
        for group in (probe.group, "all" if probe.own >= 0 else "distractors"):
            counts = out[group]
            for method in METHODS:
                t = counts[method]
                if method == "match":
                    found = decision is MatchDecision.MATCH and best in own
                    wrong = decision is MatchDecision.MATCH and best not in own
                elif method == "match_or_review":
                    found = decision is not MatchDecision.NONE and bool(entries & own)
                    wrong = decision is not MatchDecision.NONE and bool(entries - own)
                else:
                    found, wrong = bool(hits[method] & own), bool(hits[method] - own)
                if probe.own >= 0:
                    t.copies += 1
                    t.found += found
                    t.wrong += wrong
                else:
                    t.distractors += 1
                    t.false += wrong
    return out


def curve(probes: Sequence[Probe], d: Distances, radii: Sequence[int], groups: Sequence[int]) -> list[dict[str, Any]]:
    """Recall over copies and false-match rate over distractors at each radius (one algorithm, all hashes)."""
    own = np.array([p.own for p in probes])
    is_copy = own >= 0
    rows = np.flatnonzero(is_copy)
    group_of = np.asarray(groups)
    same = group_of[None, :] == group_of[np.where(is_copy, own, 0)][:, None]
    same[~is_copy] = False
    masked = d.every.astype(np.int32).copy()
    own_d = np.where(same, masked, np.iinfo(np.int32).max).min(axis=1)[rows] if masked.shape[1] else masked[:0, 0]
    masked[same] = np.iinfo(np.int32).max
    nearest_other = masked.min(axis=1) if masked.shape[1] else np.full(len(probes), np.iinfo(np.int32).max)
    m = int((~is_copy).sum())
    distractor_rows = d.every[~is_copy]
    out = []
    for r in radii:
        false = int((nearest_other[~is_copy] <= r).sum())
        pairs = int((distractor_rows <= r).sum())
        out.append({
            "radius": r,
            "recall": round(float((own_d <= r).mean()) if len(rows) else 0.0, 4),
            "wrong_entry_copies": int((nearest_other[is_copy] <= r).sum()),
            "false_matches": false,
            "per_10k": round(1e4 * false / m, 2) if m else None,
            "per_10k_upper95": round(1e4 * upper_bound(false, m), 2) if m else None,
            # (distractor, entry) pairs within the radius: scales a rate to a list of another size
            "false_pairs": pairs,
            "per_pair_upper95": float(f"{upper_bound(pairs, distractor_rows.size):.3g}") if m else None,
        })
    return out


def nearest_distractor(probes: Sequence[Probe], d: Distances) -> dict[str, Any]:
    """The closest any distractor came to any known entry, and the 0.1% quantile per distractor."""
    rows = [i for i, p in enumerate(probes) if p.own < 0]
    if not rows or not d.every.shape[1]:
        return {}
    nearest = d.every[rows].min(axis=1)
    worst = int(np.argmin(nearest))
    return {"min": int(nearest[worst]), "q001": float(np.quantile(nearest, 0.001)),
            "median": float(np.median(nearest)), "closest": probes[rows[worst]].origin}


def pair_tail(probes: Sequence[Probe], d: Distances, radii: Sequence[int], sizes: Sequence[int]) -> dict[str, Any]:
    """How a false-match rate grows with the list: the distractor-entry distance distribution and its tail.

    The rate per distractor image measured here is for this list's size; a list of ``n``
    entries gives about ``n`` times the rate per (image, entry) pair. Pairs within the radii
    that matter are too rare to count, so the tail is also read off a normal fit to every
    pair's distance (the nearest of the image's hashes): for pHash the fit agrees with the
    counted pairs where there are some (radius 10-12, within a factor of 2); for PDQ no pair
    comes near, and the fit is only a sketch.
    """
    rows = [i for i, p in enumerate(probes) if p.own < 0]
    if not rows:
        return {}
    every = d.every[rows]
    unusable = int((every.min(axis=1) == NO_HASH).sum()) if every.size else 0
    pairs = every[every != NO_HASH].astype(np.float64)
    if not pairs.size:
        return {"images_without_a_usable_hash": unusable}
    mean, sd = float(pairs.mean()), float(pairs.std())
    out: dict[str, Any] = {"pairs": int(pairs.size), "images_without_a_usable_hash": unusable,
                           "mean": round(mean, 2), "sd": round(sd, 2), "min": int(pairs.min()), "by_radius": []}
    for r in radii:
        fit = 0.5 * math.erfc(-(r + 0.5 - mean) / (sd * math.sqrt(2)))
        out["by_radius"].append({
            "radius": r,
            "counted_pairs": int((pairs <= r).sum()),
            "fitted_per_pair": float(f"{fit:.3g}"),
            "fitted_per_image": {str(n): float(f"{min(1.0, n * fit):.3g}") for n in sizes},
        })
    return out


def recovered_by(probes: Sequence[Probe], d: Distances, radius: int) -> dict[str, dict[str, int]]:
    """Per transform, which hash found the copy: the image as given, a rotation/flip or a variant."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for row, p in enumerate(probes):
        if p.own < 0 or d.every[row, p.own] > radius:
            continue
        if d.plain[row, p.own] <= radius:
            out[p.group]["as given"] += 1
        else:
            name = d.variants[d.via[row, p.own]]
            out[p.group]["pdq-dihedral" if name.startswith("pdq-dihedral:") else name] += 1
    return {k: dict(v) for k, v in out.items()}


# Running ---------------------------------------------------------------------------------------


def _thresholds(args: argparse.Namespace) -> tuple[dict[str, Thresholds], float]:
    settings = MatcherSettings()
    chosen = dict(settings.thresholds)
    for name in ("pdq", "phash"):
        match, review = getattr(args, f"{name}_match"), getattr(args, f"{name}_review")
        base = chosen[name]
        chosen[name] = Thresholds(match=base.match if match is None else match,
                                  review=base.review if review is None else review)
    return chosen, settings.joint_max if args.joint_max is None else args.joint_max


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Hash (or reuse) originals, copies and distractors, then count."""
    paths = load(args.corpus)[: args.limit]
    names = args.transforms.split(",") if args.transforms else list(transforms.TRANSFORMS)
    cache = args.corpus / "robustness"
    started = time.process_time()
    known = known_list(paths, cache)
    labels = [p.origin for p in known]
    known_pdq = [next(h.value for h in p.hashes if h.algorithm == "pdq" and not h.variant) for p in known]
    known_phash = [next(h.value for h in p.hashes if h.algorithm == "phash" and not h.variant) for p in known]
    queries = copies(paths, names, args.seed, cache)
    others = distractor_probes(args.distractors, args.figures, args.corpus, cache)
    hashing_s = time.process_time() - started

    # Figures that show a known photo are copies of it, not distractors (see KNOWN_FIGURE_PDQ).
    fig_rows = [p for p in others if p.group == "figures"]
    fig_pdq = distances(fig_rows, known_pdq, "pdq")
    shows_known = {id(p) for row, p in enumerate(fig_rows) if fig_pdq.every[row].min(initial=999) <= KNOWN_FIGURE_PDQ}
    set_aside = [p.origin for p in fig_rows if id(p) in shows_known]
    others = [p for p in others if id(p) not in shows_known]

    probes = [*queries, *others]
    pdq = distances(probes, known_pdq, "pdq")
    phash = distances(probes, known_phash, "phash")
    thresholds, joint_max = _thresholds(args)
    decided = verdicts(pdq, phash, labels, thresholds, joint_max)
    groups_of = picture_groups(known)
    counts = tally(probes, pdq, phash, decided, groups_of)
    groups = [*names, "all", *dist.FAMILIES, "distractors"]
    result = {
        "benchmark": "robustness",
        "known_entries": len(known),
        "known_pictures": len(set(groups_of)),
        "known_low_quality_pdq": sum(1 for p in known for h in p.hashes
                                     if h.algorithm == "pdq" and not h.variant and (h.quality or 0) < MIN_QUALITY),
        "copies": len(queries),
        "distractor_images": len(others),
        "distractors_by_family": dict(Counter(p.group for p in others)),
        "figures_set_aside_as_known": set_aside,
        "non_matching_comparisons": len(others) * len(known),
        "radii": {"pdq": PDQ_RADIUS, "phash": PHASH_RADIUS, "min_pdq_quality": MIN_QUALITY},
        "decision": {"thresholds": {k: v.model_dump() for k, v in thresholds.items()}, "joint_max": joint_max},
        "by_group": {g: {m: counts[g][m].row() for m in METHODS} for g in groups if g in counts},
        "recovered_by_pdq": recovered_by(probes, pdq, PDQ_RADIUS),
        "recovered_by_phash": recovered_by(probes, phash, PHASH_RADIUS),
        "nearest_distractor": {"pdq": nearest_distractor(probes, pdq), "phash": nearest_distractor(probes, phash)},
        "pair_tail": {"pdq": pair_tail(probes, pdq, (16, 24, 31, 40), LIST_SIZES),
                      "phash": pair_tail(probes, phash, (2, 4, 6, 8, 10, 12), LIST_SIZES)},
        "calibration": {"pdq": curve(probes, pdq, range(0, 65, 2), groups_of),
                        "phash": curve(probes, phash, range(0, 21), groups_of)},
        "seed": args.seed,
        "cpu_seconds_hashing": round(hashing_s, 1),
        **({"list_variants": _image_backed(args, paths, cache, known, probes, labels, groups, groups_of,
                                           thresholds, joint_max)} if args.list_variants else {}),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
    }
    return result


def _image_backed(args: argparse.Namespace, paths: Sequence[Path], cache: Path, known: Sequence[Probe],
                  probes: Sequence[Probe], labels: Sequence[str], groups: Sequence[str], groups_of: Sequence[int],
                  thresholds: dict[str, Thresholds], joint_max: float) -> dict[str, Any]:
    """The same probes against the image-backed list: each original's hashes plus its list-side variants'.

    Two decision rules side by side (:func:`matcher.decision.decide`'s ``confirm_variants``):
    ``equal`` (a variant hit decides as a hit on its parent would) and ``review_only`` (a
    variant hit never confirms, it only sends the copy to review).
    """
    started = time.process_time()
    extra = known_variants(paths, cache)
    cpu_variants = time.process_time() - started
    columns: dict[str, Columns] = {}
    out_d: dict[str, Distances] = {}
    folded: dict[str, Distances] = {}
    for name in ("pdq", "phash"):
        owners, names, values = [], [], []
        for parent, variants in zip(known, extra, strict=True):
            for h in (*[h for h in parent.hashes if h.algorithm == name and not h.variant],
                      *[h for h in variants.hashes if h.algorithm == name]):
                owners.append(parent.own)
                names.append(h.variant)
                values.append(h.value)
        columns[name] = Columns(owners, names)
        out_d[name] = distances(probes, values, name)
        folded[name] = by_owner(out_d[name], owners, len(known))
    result: dict[str, Any] = {
        "list_hashes": {name: len(c.owners) for name, c in columns.items()},
        "cpu_seconds_per_original": round(cpu_variants / max(1, len(paths)), 4),
        "variants_per_original": len(list_variants.crop_family(Image.new("L", (64, 64)))),
    }
    for rule in ("equal", "review_only"):
        decided = verdicts(out_d["pdq"], out_d["phash"], labels, thresholds, joint_max, columns,
                           confirm_variants=rule == "equal")
        counts = tally(probes, folded["pdq"], folded["phash"], decided, groups_of)
        result[rule] = {g: {m: counts[g][m].row() for m in METHODS} for g in groups if g in counts}
    result["by_group"] = result["equal"]
    result["matched_through"] = _through(probes, out_d, columns)
    return result


def _through(probes: Sequence[Probe], d: dict[str, Distances],
             columns: dict[str, Columns]) -> dict[str, dict[str, int]]:
    """Per transform, how many copies had their closest own PDQ hash on a list-side variant, by variant."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    owners = np.asarray(columns["pdq"].owners)
    for row, p in enumerate(probes):
        if p.own < 0:
            continue
        own_cols = np.flatnonzero(owners == p.own)
        best = own_cols[int(np.argmin(d["pdq"].every[row, own_cols]))]
        if d["pdq"].every[row, best] <= PDQ_RADIUS:
            out[p.group][columns["pdq"].names[best] or "parent"] += 1
    return {k: dict(v) for k, v in out.items()}


def side_by_side(result: dict[str, Any]) -> str:
    """Hash-only (today's list) and image-backed (with list-side variants) per transform."""
    image = result["list_variants"]
    heads = ("hash-only PDQ", "hash-only pHash", "hash-only match", "hash-only match or review",
             "image-backed match", "image-backed match or review", "image-backed match (variants review-only)")
    lines = ["| transform | " + " | ".join(heads) + " |", "| --- |" + " ---: |" * len(heads)]
    for group, row in result["by_group"].items():
        if "recall" not in row["pdq"]:
            continue
        new, cautious = image["equal"][group], image["review_only"][group]
        cells = [row["pdq"], row["phash"], row["match"], row["match_or_review"],
                 new["match"], new["match_or_review"], cautious["match"]]
        name = f"**{group}**" if group == "all" else group
        lines.append(f"| {name} | " + " | ".join(f"{100 * c['recall']:.1f}%" for c in cells) + " |")
    lines.append("")
    lines.append("| distractors | images | hash-only match or review | image-backed match "
                 "| image-backed match or review |")
    lines.append("| --- | ---: | ---: | ---: | ---: |")
    for group, row in result["by_group"].items():
        if "distractors" not in row["pdq"]:
            continue
        new = image["equal"][group]
        cells = [row["match_or_review"], new["match"], new["match_or_review"]]
        name = f"**{group}**" if group == "distractors" else group
        lines.append(f"| {name} | {row['pdq']['distractors']} | "
                     + " | ".join(f"{c['false_matches']} (<= {c['per_10k_upper95']:g})" for c in cells) + " |")
    return "\n".join(lines)


def table(result: dict[str, Any]) -> str:
    """Recall per transform and method, then false matches per 10,000 distractors."""
    heads = ("PDQ as given", "PDQ + variants", "pHash", "match", "match or review")
    lines = ["| transform | " + " | ".join(heads) + " |", "| --- |" + " ---: |" * len(heads)]
    for group, row in result["by_group"].items():
        if "recall" not in row["pdq"]:
            continue
        cells = [f"{100 * row[m]['recall']:.1f}%" for m in METHODS]
        name = f"**{group}**" if group == "all" else group
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| distractors | images | " + " | ".join(heads) + " |")
    lines.append("| --- | ---: |" + " ---: |" * len(heads))
    for group, row in result["by_group"].items():
        if "distractors" not in row["pdq"]:
            continue
        cells = [f"{row[m]['false_matches']} (<= {row[m]['per_10k_upper95']:g})" for m in METHODS]
        name = f"**{group}**" if group == "distractors" else group
        lines.append(f"| {name} | {row['pdq']['distractors']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curve_table(result: dict[str, Any]) -> str:
    """The calibration curves as text: radius, recall, false matches (per 10k, 95% upper bound)."""
    lines = []
    for name, rows in result["calibration"].items():
        lines.append(f"{name}: radius  recall  wrong-entry-copies  false-matches  per-10k  per-10k-upper95")
        for r in rows:
            lines.append(f"{name}: {r['radius']:6d}  {r['recall']:.4f}  {r['wrong_entry_copies']:18d}  "
                         f"{r['false_matches']:13d}  {r['per_10k']:7}  {r['per_10k_upper95']:7}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the robustness benchmark."""
    parser.add_argument("--corpus", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N corpus images as the list")
    parser.add_argument("--transforms", default="", help="comma-separated subset of the transforms (default all)")
    parser.add_argument("--distractors", type=int, default=10_000, help="generated non-matching images")
    parser.add_argument("--figures", type=int, default=2_000, help="at most this many OpenCV documentation figures")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--calibrate", action="store_true", help="also print the calibration curves")
    for name in ("pdq", "phash"):
        parser.add_argument(f"--{name}-match", type=int, default=None, help=f"override the {name} match threshold")
        parser.add_argument(f"--{name}-review", type=int, default=None, help=f"override the {name} review threshold")
    parser.add_argument("--joint-max", type=float, default=None, help="override the PDQ+pHash joint bound")
    parser.add_argument("--list-variants", action="store_true",
                        help="also match against the image-backed list (originals plus their list-side variants)")
    parser.add_argument("--out", type=Path, default=RESULTS)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run with parsed options: write the JSON, print the tables."""
    result = measure(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(side_by_side(result) if args.list_variants else table(result))
    if args.calibrate:
        print(curve_table(result))
    print(json.dumps({k: result[k] for k in ("known_entries", "copies", "distractor_images", "nearest_distractor")}))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: ``python -m benchmarks.robustness`` (same options as the ``robustness`` subcommand)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run robustness", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()


"""Benchmarks, hashing throughput: images per CPU-second for decode + PDQ + pHash + SHA-256, side by side.

Pipelines, each run over the same corpus bytes in one process, one after another, timed with
``time.process_time`` (CPU time of this process, so other load on the machine does not count):

- ``orbweaver``: :func:`hashing.hasher.compute_hashes_batch` with sha256, pdq and phash (no
  rotations, variants or frames: the same work as the others), in batches of ``--batch``;
- ``naive``: Pillow full decode + ``imagehash.phash`` + ``pdqhash.compute`` + ``hashlib.sha256``;
- ``perception``: Pillow full decode + ``perception``'s ``PDQHash`` and ``PHash`` + SHA-256
  (skipped, with the reason, when perception is not installed);
- ``floor``: reduced JPEG decoding alone (Pillow ``draft`` to the working size, luma), the
  least any pipeline that decodes the image must spend;
- ``hash-command``: what ``orbweaver hash`` does after start-up: the command's own record code
  (``orbweaver/cli_hash.py``) over a warm :class:`~hashing.pool.HashingPool` with the command's
  plan (sha256, md5, sha1, pdq, phash; no rotations or variants), its CPU counted with the
  worker processes' (``/proc/<pid>/stat``);
- ``with-variants``: :func:`hashing.hasher.compute_hashes_batch` with pdq, phash and sha256 and
  everything the matcher looks up besides: PDQ's seven rotations and flips and the query-side
  variants of ``hashing/variants.py`` (the hashing stage's work).

It also times variant detection alone (``hashing.variants.detect``: trim, deframe and turn, on
each working image), milliseconds of CPU per image.

It also measures how far orbweaver's PDQ is from ``pdqhash`` on the fully decoded image (the
interoperability budget: within 10 bits at quality >= 80, mean <= 4) and its pHash from
``imagehash.phash`` on the full image.

    python -m benchmarks.run throughput [--limit N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.corpus import DEFAULT_DIR, build, load

RESULTS = Path(__file__).resolve().parent / "results" / "throughput.json"
ALGORITHMS = ("sha256", "pdq", "phash")
BENCH_TIME_LIMIT_S = 120.0


def _naive(data: bytes) -> None:
    import imagehash
    import pdqhash

    image = Image.open(io.BytesIO(data)).convert("RGB")
    imagehash.phash(image)
    pdqhash.compute(np.asarray(image))
    hashlib.sha256(data).hexdigest()


def _perception() -> Callable[[bytes], None] | str:
    try:
        from perception import hashers
    except ImportError as exc:
        return f"not installed ({exc}); see benchmarks/README.md"
    pdq, phash = hashers.PDQHash(), hashers.PHash()

    def run(data: bytes) -> None:
        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        pdq.compute(image)
        phash.compute(image)
        hashlib.sha256(data).hexdigest()

    return run


def _floor(working_size: int) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        image = Image.open(io.BytesIO(data))
        image.draft("L", (working_size, working_size))
        image.load()

    return run


def _per_item(function: Callable[[bytes], None]) -> Callable[[Sequence[bytes]], None]:
    def run(batch: Sequence[bytes]) -> None:
        for data in batch:
            function(data)

    return run


def _time(
    run: Callable[[Sequence[bytes]], None],
    bodies: Sequence[bytes],
    batch: int,
    repeat: int,
    cpu: Callable[[], float] = time.process_time,
) -> float:
    """Best images per CPU-second over ``repeat`` passes (``cpu``: the clock, this process's by default)."""
    best = 0.0
    for _ in range(repeat):
        start = cpu()
        for i in range(0, len(bodies), batch):
            run(bodies[i : i + batch])
        elapsed = cpu() - start
        best = max(best, len(bodies) / elapsed)
    return best


def _process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Run = Callable[[Sequence[bytes]], None]


def _hash_command(paths: Sequence[Path], limits: Any) -> tuple[Run, Callable[[], float], Any]:
    """The hash command's work over a warm pool, the clock that counts its workers too, and the pool."""
    from hashing.pool import HashingPool
    from hashing.settings import HashingSettings
    from orbweaver.cli_hash import hash_batches, hash_plan

    settings = HashingSettings(working_size=limits.working_size, time_limit_s=limits.time_limit_s)
    pool = HashingPool(hash_plan(settings), settings.workers)
    by_body = {p.read_bytes(): p for p in paths}

    def run(batch: Sequence[bytes]) -> None:
        for _ in hash_batches([by_body[body] for body in batch], pool, settings.max_bytes):
            pass

    def cpu() -> float:
        return time.process_time() + sum(_process_cpu_s(pid) for pid in pool.pids)

    return run, cpu, pool


def _detection_ms(bodies: Sequence[bytes], limits: Any, repeat: int) -> float:
    """Best CPU milliseconds per image of variant detection on the decoded working images."""
    from hashing.decode import decode_image, to_gray
    from hashing.variants import detect

    arrays = [np.asarray(to_gray(decode_image(b, limits).image), dtype=np.float32) for b in bodies]
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for pixels in arrays:
            detect(pixels)
        best = min(best, (time.process_time() - start) / len(arrays) * 1000)
    return best


def interop(bodies: Sequence[bytes], plan: Any) -> dict[str, Any]:
    """Bits between orbweaver's PDQ/pHash and the references on the fully decoded image."""
    import imagehash
    import pdqhash

    from hashing.base import hamming_hex
    from hashing.hasher import compute_hashes_batch

    outcomes = compute_hashes_batch(bodies, plan=plan)
    pdq_bits, phash_bits, low_quality = [], [], 0
    for data, outcome in zip(bodies, outcomes, strict=True):
        image = Image.open(io.BytesIO(data)).convert("RGB")
        vector, quality = pdqhash.compute(np.asarray(image))
        ours = {h.algorithm: h.value for h in outcome.plain}
        if outcome.errors:
            raise RuntimeError(f"the corpus must hash cleanly: {outcome.errors}")
        phash_bits.append(hamming_hex(ours["phash"], str(imagehash.phash(image))))
        if quality < 80:
            low_quality += 1
            continue
        reference = np.packbits(np.asarray(vector, dtype=bool)).tobytes().hex()
        pdq_bits.append(hamming_hex(ours["pdq"], reference))
    pdq = np.asarray(pdq_bits)
    phash = np.asarray(phash_bits)
    return {
        "pdq_vs_pdqhash_full_image": {
            "images_quality_ge_80": len(pdq_bits),
            "skipped_quality_lt_80": low_quality,
            "mean_bits": round(float(pdq.mean()), 3),
            "p95_bits": float(np.percentile(pdq, 95)),
            "max_bits": int(pdq.max()),
            "over_10_bits": int((pdq > 10).sum()),
        },
        "phash_vs_imagehash_full_image": {
            "images": len(phash_bits),
            "mean_bits": round(float(phash.mean()), 3),
            "max_bits": int(phash.max()),
            "identical": int((phash == 0).sum()),
        },
    }


def measure(
    corpus: Path = DEFAULT_DIR, limit: int | None = None, repeat: int = 3, batch: int = 64, working_size: int = 0
) -> dict[str, Any]:
    """Run every pipeline over the corpus and return the results record."""
    from hashing.decode import DEFAULT_WORKING_SIZE, DecodeLimits
    from hashing.hasher import HashPlan, compute_hashes_batch

    working_size = working_size or DEFAULT_WORKING_SIZE
    paths = load(corpus)[:limit]
    bodies = [p.read_bytes() for p in paths]
    plan = HashPlan(
        algorithms=ALGORITHMS,
        # a loaded machine must not turn slow items into timeouts: the benchmark measures the work
        limits=DecodeLimits(working_size=working_size, time_limit_s=BENCH_TIME_LIMIT_S),
        dihedral=False,
        variants=False,
        animation_max_frames=0,
    )

    full_plan = replace(plan, dihedral=True, variants=True)

    def ours(chunk: Sequence[bytes]) -> None:
        compute_hashes_batch(chunk, plan=plan)

    def with_variants(chunk: Sequence[bytes]) -> None:
        compute_hashes_batch(chunk, plan=full_plan)

    command, command_cpu, pool = _hash_command(paths, plan.limits)
    perception = _perception()
    pipelines: dict[str, Callable[[Sequence[bytes]], None] | str] = {
        "orbweaver": ours,
        "hash-command": command,
        "with-variants": with_variants,
        "naive": _per_item(_naive),
        "perception": _per_item(perception) if callable(perception) else perception,
        "floor": _per_item(_floor(working_size)),
    }
    batched = {"orbweaver", "hash-command", "with-variants"}
    rates: dict[str, float | str] = {}
    with pool:
        for name, run in pipelines.items():
            if isinstance(run, str):
                rates[name] = run
                continue
            # one untimed pass warms caches (filter matrices, imports, the pool) for every pipeline alike
            run(bodies[: min(len(bodies), batch)])
            cpu = command_cpu if name == "hash-command" else time.process_time
            size = batch if name in batched else len(bodies)
            rates[name] = round(_time(run, bodies, size, repeat, cpu), 1)
    ratios = {
        f"{ours_name}_over_{name}": round(float(rates[ours_name]) / float(rate), 2)
        for ours_name in sorted(batched)
        for name, rate in rates.items()
        if name not in batched and not isinstance(rate, str)
    }
    sizes = [Image.open(io.BytesIO(b)).size for b in bodies]
    return {
        "benchmark": "throughput",
        "what": "images per CPU-second: decode + PDQ + pHash + SHA-256 (floor: reduced JPEG decode only)",
        "corpus": {
            "images": len(bodies),
            "megapixels_mean": round(float(np.mean([w * h for w, h in sizes])) / 1e6, 3),
            "bytes_mean": round(float(np.mean([len(b) for b in bodies]))),
        },
        "images_per_cpu_second": rates,
        "ratios": ratios,
        "variant_detection_ms_per_image": round(_detection_ms(bodies, plan.limits, repeat), 3),
        "interop": interop(bodies, plan),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "repeat": repeat,
        "batch": batch,
        "working_size": working_size,
    }


def table(result: dict[str, Any]) -> str:
    """The README table of one result."""
    rates = result["images_per_cpu_second"]
    ours = ("orbweaver", "hash-command", "with-variants")
    lines = [
        "| pipeline | images / CPU-s | " + " | ".join(f"{name} is" for name in ours) + " |",
        "| --- | ---: |" + " ---: |" * len(ours),
    ]
    for name, rate in rates.items():
        if isinstance(rate, str):
            lines.append(f"| {name} | {rate} |" + " |" * len(ours))
            continue
        cells = ["" if name in ours else f"{float(rates[mine]) / float(rate):.2f}x" for mine in ours]
        lines.append(f"| {name} | {rate} | " + " | ".join(cells) + " |")
    lines.append(f"\nvariant detection: {result['variant_detection_ms_per_image']} ms of CPU per image")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: measure, write ``benchmarks/results/throughput.json``, print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run throughput", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the throughput benchmark."""
    parser.add_argument("--corpus", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N corpus images")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per pipeline (best is kept)")
    parser.add_argument("--batch", type=int, default=64, help="orbweaver batch size")
    parser.add_argument("--working-size", type=int, default=0, help="decode target (default: the hashing default)")
    parser.add_argument("--out", type=Path, default=RESULTS)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run with parsed options (the corpus is built first if it is missing)."""
    if not (args.corpus / "manifest.json").is_file():
        build(args.corpus)
    result = measure(args.corpus, args.limit, args.repeat, args.batch, args.working_size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(json.dumps({"ratios": result["ratios"], "interop": result["interop"]}, indent=2))
    return result


if __name__ == "__main__":
    main()

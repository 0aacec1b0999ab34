"""The ``orbweaver hash`` command: top of the stack, hashing local files the way the pipeline hashes fetched media.

One JSON object per file, in argument order: ``path``, ``sha256``, ``md5``, ``sha1``, ``pdq``
(64 hex digits), ``pdq_quality``, ``phash`` (16 hex digits); a video or an animation adds
``frames`` (``[{"at": "frame@2.0s", "pdq": ..., "pdq_quality": ...}]``). A file that could not
be read or decoded gets ``error`` with a reason (a stable code first, e.g. ``corrupt: ...``),
besides whatever hashes could still be computed. Exit status 1 when any file has an error.

Only the printed hashes are computed: PDQ's rotations and flips and the query-side variants
(``hashing/variants.py``) cost several times the plain hashes and are skipped unless
``--variants`` asks for them; they are then printed as ``variants``
(``[{"variant": "trimmed", "algorithm": "pdq", "value": ..., "quality": ...}]``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orbweaver.cli_options import CONFIG_OPTION, load_cli_settings

if TYPE_CHECKING:
    from hashing.hasher import HashPlan
    from hashing.settings import HashingSettings

BATCH_FILES = 64
BATCH_BYTES = 256 * 1024 * 1024
"""A batch is read and hashed together (each distinct file once, spread over the decoding processes)."""


def _batches(files: Sequence[Path], max_size: int) -> Iterator[list[tuple[Path, bytes | str]]]:
    """Read the files in batches; a file that cannot be read is its error reason instead of bytes."""
    batch: list[tuple[Path, bytes | str]] = []
    size = 0
    for path in files:
        item: bytes | str
        try:
            length = path.stat().st_size
            # never read a huge file into memory just to refuse it
            item = f"too-large: {length} bytes > limit {max_size}" if length > max_size else path.read_bytes()
        except OSError as exc:
            item = f"unreadable: {exc.strerror or exc}"
        batch.append((path, item))
        size += len(item)
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def hash_records(files: Sequence[Path], settings: Any = None, *, variants: bool = False) -> Iterator[dict[str, Any]]:
    """One record per file, in order (see the module docstring).

    Args:
        files: Paths to hash.
        settings: :class:`~hashing.settings.HashingSettings`; defaults when None.
        variants: Also compute and print the rotations/flips (when the settings enable them)
            and the query-side variants; otherwise neither is computed.
    """
    from hashing.pool import HashingPool
    from hashing.settings import HashingSettings

    settings = settings or HashingSettings()
    with HashingPool(hash_plan(settings, variants=variants), settings.workers) as pool:
        yield from hash_batches(files, pool, max(settings.max_bytes, settings.video_max_bytes))


def hash_plan(settings: HashingSettings, *, variants: bool = False) -> HashPlan:
    """What the command computes: the settings' plan, less the rotations and variants unless asked.

    Args:
        settings: :class:`~hashing.settings.HashingSettings`.
        variants: Keep PDQ's rotations/flips (as the settings say) and the query-side variants.

    Returns:
        The plan the command's hashing processes run.
    """
    plan = settings.plan()
    return plan if variants else replace(plan, dihedral=False, variants=False)


def hash_batches(files: Sequence[Path], pool: Any, max_size: int) -> Iterator[dict[str, Any]]:
    """Records of the files, hashed a batch at a time in the pool's processes (killed on overrun)."""
    for batch in _batches(files, max_size):
        readable = [data for _, data in batch if isinstance(data, bytes)]
        outcomes = iter(pool.hash_batch(readable))
        for path, data in batch:
            record: dict[str, Any] = {"path": str(path)}
            if isinstance(data, str):
                record["error"] = data
                yield record
                continue
            outcome = next(outcomes)
            for value in outcome.plain:
                record[value.algorithm] = value.value
                if value.quality is not None:
                    record[f"{value.algorithm}_quality"] = value.quality
            frames = [h for h in outcome.hashes if h.variant.startswith("frame@")]
            if frames:
                record["frames"] = [
                    {"at": h.variant, h.algorithm: h.value, f"{h.algorithm}_quality": h.quality} for h in frames
                ]
            extras = [h for h in outcome.hashes if h.variant and not h.variant.startswith("frame@")]
            if extras:
                record["variants"] = [
                    {"variant": h.variant, "algorithm": h.algorithm, "value": h.value, "quality": h.quality}
                    for h in extras
                ]
            if outcome.errors:
                record["error"] = "; ".join(outcome.errors)
            yield record


@click.command("hash")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (the default output).")
@click.option(
    "--variants",
    is_flag=True,
    help="Also compute and print PDQ's rotations/flips and the query-side variants the matcher looks up.",
)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def hash_files(config_path: Path | None, as_json: bool, variants: bool, files: tuple[Path, ...]) -> None:
    """Hash files: sha256, md5, sha1, pdq, pdq_quality, phash (frames for videos), or error with a reason.

    The [hashing] settings apply (time and size limits, decoding processes).
    """
    failed = False
    for record in hash_records(files, load_cli_settings(config_path).hashing, variants=variants):
        failed = failed or "error" in record
        click.echo(json.dumps(record))
    sys.exit(1 if failed else 0)

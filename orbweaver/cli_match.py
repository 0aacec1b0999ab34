"""The ``hashset``, ``scan`` and ``lookup`` commands: known lists and matching, for operators and providers.

Every answer is one JSON object per line on standard output; problems with one input (a bad list
line, an unreadable file, a malformed hash) are reported for that input and the rest goes on.
List edits are committed to the store and then announced on the bus, so running matchers apply
them within a second; if the announcement fails the edit stands and matchers pick it up at their
next re-sync (``[matcher] resync_s``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import click

from core.messages import HashSetChange, HashValue
from hashing import registry
from orbweaver.cli_options import CONFIG_OPTION, load_cli_settings

FORMATS = click.Choice(["lines", "csv", "jsonl"])
ALGORITHMS = click.Choice(sorted(registry.ALGORITHMS), case_sensitive=False)

LOOKUP_BATCH = 2048
"""Standard-input lines matched per index query by ``lookup`` (bounded memory on endless input)."""


_settings = load_cli_settings


def _store(settings: Any) -> Any:
    from core.store import Store

    store = Store(settings.core.store_url())
    store.migrate()
    return store


def _emit(record: dict[str, Any]) -> None:
    click.echo(json.dumps(record))


def _announce(settings: Any, changes: Sequence[HashSetChange]) -> bool:
    """Publish committed changes; say on stderr (never fail) when the bus does not take them."""
    if not changes:
        return True
    from core.bus import open_bus
    from matcher.changes import publish_changes

    try:
        bus = open_bus(settings.core.bus_url(), client_id="orbweaver-hashset")
        try:
            publish_changes(bus, changes)
        finally:
            bus.close()
    except Exception as exc:  # the edit is committed: whatever the bus did, the command must not fail now
        click.echo(
            f"orbweaver: the change is saved, but announcing it failed ({exc}); running matchers "
            f"apply it at their next re-sync (within {settings.matcher.resync_s:g} s)",
            err=True,
        )
        return False
    return True


# hashset ----------------------------------------------------------------------------------


@click.group()
def hashset() -> None:
    """Manage known hash lists (named, with source, enabled flag, labels and classifications)."""


BAD_LINES_SHOWN = 20
"""Bad lines of an import echoed one by one on stderr; past these only counted (a broken list of
millions would otherwise spend most of its time writing stderr)."""


class _NothingUsable(Exception):
    """Raised from inside an import whose file had no usable line, so its transaction is rolled back."""


def _classification_terms(settings: Any, maps: Sequence[str]) -> dict[str, Any]:
    """``[matcher] classification_map`` with each ``--map TERM=CLASS`` laid over it."""
    from core.messages import Classification
    from matcher.classifications import classification_table

    extra: dict[str, Classification] = {}
    for item in maps:
        term, sep, klass = item.partition("=")
        try:
            if not sep or not term.strip():
                raise ValueError
            extra[term] = Classification(klass.strip().lower())
        except ValueError:
            raise click.BadParameter(f"{item!r} is not TERM=CLASS with CLASS one of "
                                     f"{', '.join(c.value for c in Classification)}", param_hint="--map") from None
    return classification_table({**settings.matcher.classification_map, **extra})


@hashset.command("import")
@CONFIG_OPTION
@click.option("--name", required=True, help="Name of the list (created if missing).")
@click.option("--format", "fmt", type=FORMATS, default=None, help="File format; guessed from the content if omitted.")
@click.option("--algorithm", type=ALGORITHMS, default=None,
              help="Algorithm of values that name none (e.g. sha256: 64 hex is read as PDQ otherwise).")
@click.option("--source", default=None, help="Where the list comes from (default: the file path).")
@click.option("--map", "maps", multiple=True, metavar="TERM=CLASS",
              help="Read this list's classification TERM as orbweaver's CLASS (repeatable; over "
                   "[matcher] classification_map).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def hashset_import(config_path: Path | None, name: str, fmt: str | None, algorithm: str | None, source: str | None,
                   maps: tuple[str, ...], file: Path) -> None:
    """Import a list file: one hash per line, CSV with a header, or JSON lines.

    Lines: `hex`, `algorithm:hex` or `algorithm@version:hex` (32 hex md5, 40 sha1, 64 pdq, 16 phash).
    CSV header: hash,algorithm,label,classification,source,version. JSON lines: objects with those
    keys. A missing version is the algorithm's current one. Classifications in the list's own terms
    (A1, baseline, IWF categories, csam...) are read through [matcher] classification_map and --map.
    Bad lines are reported on stderr as FILE:LINE with the reason (the first 20) and skipped; a
    file without one usable line imports nothing and exits 1.
    """
    from matcher.hashsets import import_entries
    from matcher.lists import LineError, ListEntry, iter_hash_list

    settings = _settings(config_path)
    terms = _classification_terms(settings, maps)
    good = 0
    bad: list[LineError] = []
    bad_lines = 0

    def entries(lines: Iterable[str]) -> Iterator[ListEntry]:
        # Read, parse and insert as the file goes by: memory stays flat whatever the list's length.
        nonlocal good, bad_lines
        for item in iter_hash_list(lines, fmt, default_algorithm=algorithm, classifications=terms):
            if isinstance(item, LineError):
                bad_lines += 1
                if len(bad) < BAD_LINES_SHOWN:
                    bad.append(item)
                    click.echo(f"{file}:{item.line_no}: skipped: {item.reason}", err=True)
            else:
                good += 1
                yield item
        if not good:
            raise _NothingUsable

    try:
        with file.open(encoding="utf-8-sig", errors="replace", newline="") as lines:
            result = import_entries(_store(settings), name, entries(lines), source=source or str(file))
    except _NothingUsable:
        result = None
    total = good + bad_lines
    if bad_lines > len(bad):
        click.echo(f"{file}: ... and {bad_lines - len(bad)} more bad lines not shown", err=True)
    summary = f"{file}: imported {good} of {total} lines"
    if bad:
        summary += f"; {bad_lines} bad lines (first: line {bad[0].line_no}: {bad[0].reason})"
    if result is None:
        what = "it has no hash lines" if not total else "not one line is usable"
        click.echo(f"{summary}. Nothing imported: {what}.", err=True)
        _emit({"hashset": name, "lines": total, "added": 0, "duplicates": 0, "bad_lines": bad_lines,
               "announced": False})
        sys.exit(1)
    click.echo(summary, err=True)
    announced = _announce(settings, result.changes)
    _emit({"hashset": name, "lines": total, "added": result.added, "duplicates": result.duplicates,
           "bad_lines": bad_lines, "announced": announced})


@hashset.command("import-vpdq")
@CONFIG_OPTION
@click.option("--name", required=True, help="Name of the list (created if missing).")
@click.option("--classification", default=None, help="Classification of every video, in the list's terms or ours.")
@click.option("--source", default=None, help="Where the hashes come from (default: each file's path).")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def hashset_import_vpdq(config_path: Path | None, name: str, classification: str | None, source: str | None,
                        files: tuple[Path, ...]) -> None:
    """Import known videos as vPDQ hashes: one file per video, `frame,quality,pdq_hex,timestamp` per line.

    Each video is one entry (algorithm vpdq), labelled with its file name without the extension and
    announced to running matchers; crawled videos are matched against it by vPDQ's rule
    ([matcher.vpdq]). Bad lines are reported on stderr as FILE:LINE and skipped; a file without one
    usable frame adds nothing and the command exits 1.
    """
    from matcher.classifications import normalise_term, unknown_term_reason
    from matcher.vpdq import import_video, parse_vpdq

    settings = _settings(config_path)
    klass: str | None = None
    if classification is not None:
        terms = settings.matcher.classification_map
        found = terms.get(normalise_term(classification))
        if found is None:
            raise click.BadParameter(unknown_term_reason(classification, terms), param_hint="--classification")
        klass = found.value
    store = _store(settings)
    failed = False
    for path in files:
        parsed = parse_vpdq(path.read_text(encoding="utf-8-sig", errors="replace"))
        for error in parsed.errors[:BAD_LINES_SHOWN]:
            click.echo(f"{path}:{error.line_no}: skipped: {error.reason}", err=True)
        record: dict[str, Any] = {"path": str(path), "label": path.stem, "frames": len(parsed.features),
                                  "bad_lines": len(parsed.errors)}
        if not parsed.features:
            failed = True
            _emit({**record, "added": False, "error": "no usable vPDQ frame line"})
            continue
        result = import_video(store, name, parsed.features, label=path.stem, classification=klass,
                              source=source or str(path))
        _emit({**record, "added": bool(result.added), "entry_id": next(iter(result.added_ids), None),
               "announced": _announce(settings, result.changes)})
    sys.exit(1 if failed else 0)


@hashset.command("add-images")
@CONFIG_OPTION
@click.option("--name", required=True, help="Name of the list (created if missing).")
@click.option("--classification", default=None, help="Classification of every entry (e.g. baseline_csam).")
@click.option("--source", default=None, help="Where the images come from.")
@click.option("--variants/--no-variants", default=True, show_default=True,
              help="Also store the list-side variants (crops) of each image (hashing/list_variants.py).")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def hashset_add_images(config_path: Path | None, name: str, classification: str | None, source: str | None,
                       variants: bool, files: tuple[Path, ...]) -> None:
    """Hash image files into a list; each entry's label is the file name without its extension.

    Every hash of the image as given is added (sha256, md5, sha1, pdq, phash); a PDQ below the
    matcher's minimum quality is left out, because it would match unrelated flat images. With
    ``--variants`` (the default) the PDQ and pHash of a family of crops of each image are added
    too, each tagged as a variant of its parent entry: a re-upload cropped by 5-20% then matches.
    A reduced grey copy of each image is kept in the blob store for ``[matcher.verify]``.
    """
    from core.blobs import open_blobs
    from hashing.pool import HashingPool
    from matcher.hashsets import import_entries
    from matcher.lists import ListEntry, parse_hash_list, variant_entries
    from matcher.verify import UnreadableImageError, keep_reference

    settings = _settings(config_path)
    if classification is not None:
        check = parse_hash_list(f"hash,classification\n{'0' * 64},{classification}\n", "csv",
                                classifications=settings.matcher.classification_map)
        if check.errors:
            raise click.BadParameter(check.errors[0].reason, param_hint="--classification")
        classification = check.entries[0].classification
    min_quality = settings.matcher.min_pdq_quality
    blobs = open_blobs(settings.core.blobs_url(), s3_endpoint_url=settings.core.s3_endpoint_url)
    entries: list[ListEntry] = []
    failed = False
    # decoded in a worker process, killed past the [hashing] time limit (hashing/pool.py)
    with HashingPool(settings.hashing.plan(), workers=1) as pool:
        for path in files:
            record: dict[str, Any] = {"path": str(path), "label": path.stem}
            try:
                data = path.read_bytes()
            except OSError as exc:
                _emit({**record, "error": f"unreadable: {exc.strerror or exc}"})
                failed = True
                continue
            outcome = pool.hash(data)
            added: list[str] = []
            parents: list[ListEntry] = []
            for h in outcome.hashes:
                if h.variant:
                    continue  # lists hold the image as given; the query side tries the variants
                if h.algorithm == "pdq" and h.quality is not None and h.quality < min_quality:
                    record["skipped"] = f"pdq quality {h.quality} < {min_quality}"
                    continue
                parents.append(ListEntry(h.value, h.algorithm, path.stem, classification, source, h.version))
                added.append(h.algorithm)
                if h.algorithm == "sha256":
                    try:  # verification's copy (matcher/verify.py); the entry's sha256 names it
                        keep_reference(blobs, h.value, data, settings.matcher.verify.max_side)
                    except UnreadableImageError as exc:
                        record["reference"] = f"not kept: {exc.reason}"
            entries.extend(parents)
            record["hashes"] = added
            if outcome.errors:
                record["error"] = "; ".join(outcome.errors)
                failed = True
            elif variants and parents:
                # decoded again here (the pool returns hashes only); the pool already proved it decodes
                crops = variant_entries(parents, data, min_pdq_quality=min_quality)
                entries.extend(crops)
                record["variants"] = len(crops)
            _emit(record)
    result = import_entries(_store(settings), name, entries, source=source)
    announced = _announce(settings, result.changes)
    _emit({"hashset": name, "added": result.added, "duplicates": result.duplicates, "announced": announced})
    sys.exit(1 if failed else 0)


@hashset.command("list")
@CONFIG_OPTION
@click.option("--thresholds", "show_thresholds", is_flag=True,
              help="Then, per perceptual algorithm, the entries of the enabled lists and the match/review "
                   "thresholds a matcher uses for that many ([matcher] review_by_entries).")
def hashset_list(config_path: Path | None, show_thresholds: bool) -> None:
    """List known hash lists with their entry counts per algorithm."""
    from collections import Counter
    from dataclasses import asdict

    from matcher.hashsets import list_sets

    settings = _settings(config_path)
    sets = list_sets(_store(settings))
    for info in sets:
        click.echo(json.dumps(asdict(info), default=str))
    if show_thresholds:
        entries: Counter[str] = Counter()
        for info in sets:
            if info.enabled:
                entries.update(info.counts)
        for name, limits in sorted(settings.matcher.effective_thresholds(entries).items()):
            click.echo(json.dumps({"algorithm": name, "entries": entries[name], "match": limits.match,
                                   "review": limits.review, "configured_review": settings.matcher.review_radius(name)}))


@hashset.command("export")
@CONFIG_OPTION
@click.option("--name", required=True)
@click.option("--format", "fmt", type=FORMATS, default="csv", show_default=True)
def hashset_export(config_path: Path | None, name: str, fmt: str) -> None:
    """Write a list's entries to standard output (import reads it back)."""
    from matcher.hashsets import export_entries
    from matcher.lists import write_hash_list

    click.echo(write_hash_list(export_entries(_store(_settings(config_path)), name), fmt), nl=False)


@hashset.command("remove")
@CONFIG_OPTION
@click.option("--name", required=True)
@click.option("--hash", "values", multiple=True, help="Remove only this entry (hex; repeatable).")
@click.option("--file", "values_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Remove only the entries listed in this list file (any import format).")
def hashset_remove(config_path: Path | None, name: str, values: tuple[str, ...], values_file: Path | None) -> None:
    """Delete a list, or only some of its entries (--hash, --file)."""
    from matcher.hashsets import remove_entries, remove_set
    from matcher.lists import parse_hash_list

    settings = _settings(config_path)
    store = _store(settings)
    if not values and values_file is None:
        edit = remove_set(store, name)
        _emit({"hashset": name, "deleted": True, "removed": len(edit.removed_ids),
               "announced": _announce(settings, edit.changes)})
        return
    wanted = list(values)
    if values_file is not None:
        parsed = parse_hash_list(values_file.read_bytes().decode("utf-8-sig", errors="replace"))
        for err in parsed.errors:
            click.echo(f"{values_file}:{err.line_no}: skipped: {err.reason}", err=True)
        wanted += [e.value for e in parsed.entries]
    edit = remove_entries(store, name, wanted)
    _emit({"hashset": name, "deleted": False, "removed": len(edit.removed_ids),
           "announced": _announce(settings, edit.changes)})


def _toggle(config_path: Path | None, name: str, enabled: bool) -> None:
    from matcher.hashsets import set_enabled

    settings = _settings(config_path)
    edit = set_enabled(_store(settings), name, enabled)
    _emit({"hashset": name, "enabled": enabled, "announced": _announce(settings, edit.changes)})


@hashset.command("enable")
@CONFIG_OPTION
@click.option("--name", required=True)
def hashset_enable(config_path: Path | None, name: str) -> None:
    """Match this list again."""
    _toggle(config_path, name, True)


@hashset.command("disable")
@CONFIG_OPTION
@click.option("--name", required=True)
def hashset_disable(config_path: Path | None, name: str) -> None:
    """Stop matching this list (its entries stay)."""
    _toggle(config_path, name, False)


def _share(config_path: Path | None, name: str, shared: bool) -> None:
    from matcher.hashsets import set_shared

    changed = set_shared(_store(_settings(config_path)), name, shared)
    _emit({"hashset": name, "shared": shared, "changed": changed})


@hashset.command("share")
@CONFIG_OPTION
@click.option("--name", required=True)
def hashset_share(config_path: Path | None, name: str) -> None:
    """Publish this list's PDQ and MD5 entries on the hash feed (/stopncii/v1/FetchHashes)."""
    _share(config_path, name, True)


@hashset.command("unshare")
@CONFIG_OPTION
@click.option("--name", required=True)
def hashset_unshare(config_path: Path | None, name: str) -> None:
    """Stop publishing this list: its entries go out on the hash feed as withdrawn."""
    _share(config_path, name, False)


# scan and lookup ----------------------------------------------------------------------------


def _matcher(settings: Any, names: Sequence[str]) -> Any:
    from matcher.engine import Matcher

    matcher = Matcher(_store(settings), settings.matcher, sets=names)
    matcher.load()
    return matcher


def _answer(outcome: Any) -> dict[str, Any]:
    """The fields of one verdict: decision and, if anything matched, the deciding hit."""
    verdict = outcome.verdict
    record: dict[str, Any] = {"decision": str(verdict.decision)}
    best = verdict.best
    if best is not None:
        record.update(
            entry=best.entry_label,
            algorithm=best.algorithm,
            distance=best.distance,
            classification=best.classification,
            hash_set=best.hash_set,
            variant=best.variant,
            list_variant=best.list_variant,
            reason=verdict.reason,
        )
    return record


@click.command()
@CONFIG_OPTION
@click.option("--hashset", "names", multiple=True, required=True, help="List to match against (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (the default output).")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def scan(config_path: Path | None, names: tuple[str, ...], as_json: bool, files: tuple[Path, ...]) -> None:
    """Hash files and match them against known lists.

    One JSON object per file: path, decision (match, review, none) and the best match's entry,
    algorithm and distance; a file that cannot be read or decoded gets an error (exit 1).
    """
    from hashing.pool import HashingPool

    settings = _settings(config_path)
    matcher = _matcher(settings, names)
    failed = False
    # decoded in a worker process, killed past the [hashing] time limit (hashing/pool.py)
    with HashingPool(settings.hashing.plan(), workers=1) as pool:
        for path in files:
            record: dict[str, Any] = {"path": str(path)}
            try:
                data = path.read_bytes()
            except OSError as exc:
                _emit({**record, "error": f"unreadable: {exc.strerror or exc}"})
                failed = True
                continue
            outcome = pool.hash(data)
            # Exact hashes exist even for a corrupt file, so it is still matched by them.
            record.update(_answer(matcher.evaluate(outcome.hashes)))
            if outcome.errors:
                record["error"] = "; ".join(outcome.errors)
                failed = True
            _emit(record)
    sys.exit(1 if failed else 0)


def _batches(stream: IO[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in stream:
        batch.append(line.rstrip("\r\n"))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@click.command()
@CONFIG_OPTION
@click.option("--hashset", "names", multiple=True, required=True, help="List to match against (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (the default output).")
def lookup(config_path: Path | None, names: tuple[str, ...], as_json: bool) -> None:
    """Match hashes read from standard input, one per line (`algorithm:hex`, or bare hex: 64 is PDQ).

    Answers one JSON object per input line, in input order: query, decision and the best match's
    entry, algorithm and distance; a malformed line gets an error answer (exit 1) and the rest go on.
    """
    from matcher.lists import entry_version, parse_hash_value

    settings = _settings(config_path)
    matcher = _matcher(settings, names)
    failed = False
    for lines in _batches(sys.stdin, LOOKUP_BATCH):
        parsed: list[HashValue | str] = []
        for line in lines:
            if not line.strip():
                parsed.append("empty line")
                continue
            try:
                entry = parse_hash_value(line)
            except ValueError as exc:
                parsed.append(str(exc))
                continue
            parsed.append(HashValue(algorithm=entry.algorithm, version=entry_version(entry), value=entry.value))
        outcomes = iter(matcher.evaluate_many([[p] for p in parsed if isinstance(p, HashValue)]))
        for line, item in zip(lines, parsed, strict=True):
            if isinstance(item, str):
                _emit({"query": line, "error": item})
                failed = True
            else:
                _emit({"query": line, **_answer(next(outcomes))})
    sys.exit(1 if failed else 0)

"""Matcher input: known hash lists in plain-lines, CSV and JSON-lines form, parsed and written.

A list file is untrusted operator input. Every line that cannot be used is reported with its
1-based line number and a reason, never dropped silently; good lines are kept. Hex is
normalised to lowercase. The algorithm of a value without one is ``default_algorithm`` when
given (then the value must have that algorithm's length), else inferred from its length:
32 hex → md5, 40 → sha1, 64 → pdq (sha256 must be named: 64 hex is ambiguous), 16 → phash
(dhash must be named); the algorithms and lengths are the hashing registry's.

Every entry carries its algorithm's version (hashes of different versions are never compared).
CSV and JSON lines have a ``version`` column; plain lines write ``algorithm@version:hex`` for an
entry whose version is not the registry's current one. An entry that gives none is of the
current version; one newer than this build's algorithm is refused.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from core.errors import ConfigError
from core.messages import Classification
from core.spreadsheet import csv_cell, from_csv_cell
from hashing import registry
from hashing.base import HashAlgorithm, is_hex
from matcher.classifications import DEFAULT_CLASSIFICATION_MAP, normalise_term, unknown_term_reason

COLUMNS = ("hash", "algorithm", "label", "classification", "source", "version")
"""Columns of the CSV form and keys of the JSON-lines form, in export order."""


class ListFormat(StrEnum):
    """Names of the hash-list formats (storage keys, used on the command line)."""

    LINES = "lines"
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One hash of a known list, as read from or written to a list file."""

    value: str
    """Lowercase hex."""
    algorithm: str
    label: str | None = None
    classification: str | None = None
    source: str | None = None
    version: int | None = None
    """Version of the algorithm that made the value; left out, the registry's current one
    (filled in when the entry is made, so a later registry change cannot alter it)."""
    variant: str = ""
    """List-side variant name (``hashing.list_variants``); "" for a hash of the picture itself.
    List files never carry variants: they are made from images orbweaver holds."""
    parent: str | None = None
    """For a variant, the value of its parent entry (same list, same algorithm)."""

    def __post_init__(self) -> None:
        if self.version is None:
            algorithm = registry.find(self.algorithm)
            if algorithm is not None:
                object.__setattr__(self, "version", algorithm.version)


@dataclass(frozen=True, slots=True)
class LineError:
    """A list line that was skipped, and why."""

    line_no: int
    """1-based line number in the text."""
    line: str
    reason: str


@dataclass(slots=True)
class ParsedList:
    """The usable entries of a list and the lines that were skipped."""

    entries: list[ListEntry] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


class _BadLine(ValueError):
    """Internal: one field of a line is unusable (the message is the reason)."""


Terms = Mapping[str, Classification]
"""A classification table: normalised list term → orbweaver classification (see :mod:`matcher.classifications`)."""


def _version(cell: object, algo: type[HashAlgorithm]) -> int:
    """The version a list gives for an entry (text or a JSON number), checked against the registry."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return algo.version
    if isinstance(cell, str) and cell.strip().isdigit():
        number = int(cell.strip())
    elif isinstance(cell, int) and not isinstance(cell, bool):
        number = cell
    else:
        raise _BadLine(f"version must be a whole number, not {str(cell)[:40]!r}")
    if not 1 <= number <= algo.version:
        raise _BadLine(f"{algo.name} version {number} is not one this build knows (1..{algo.version})")
    return number


_TEXT_COLUMNS = tuple(c for c in COLUMNS if c != "version")

# The registry is fixed once imported; a length's answer is asked once per list line.
_by_hex_length = functools.lru_cache(maxsize=64)(registry.by_hex_length)


def _entry(cells: Mapping[str, Any], default_algorithm: type[HashAlgorithm] | None,
           terms: Terms = DEFAULT_CLASSIFICATION_MAP) -> ListEntry:
    # Runs once per list line (millions per import): plain lookups, no per-column generators.
    get = cells.get
    value, algorithm, label, classification, source = texts = (
        get("hash"), get("algorithm"), get("label"), get("classification"), get("source"))
    for name, item in zip(_TEXT_COLUMNS, texts, strict=True):
        if item is not None and not isinstance(item, str):
            raise _BadLine(f"{name} must be text, not {type(item).__name__}")
    version = get("version")
    hex_value = (value or "").strip().lower()
    if not hex_value:
        raise _BadLine("missing hash")
    if not is_hex(hex_value):
        raise _BadLine(f"hash is not hex: {hex_value[:80]!r}")
    if algorithm and algorithm.strip():
        algo = registry.find(algorithm)
        if algo is None:
            raise _BadLine(f"unknown algorithm {algorithm.strip()!r}")
    elif default_algorithm is not None:
        algo = default_algorithm
    else:
        inferred = _by_hex_length(len(hex_value))
        if inferred is None:
            raise _BadLine(f"no algorithm has {len(hex_value)} hex characters")
        algo = inferred
    if len(hex_value) != algo.hex_len():
        raise _BadLine(f"{algo.name} needs {algo.hex_len()} hex characters, not {len(hex_value)}")
    klass: str | None = None
    if classification and classification.strip():
        found = terms.get(normalise_term(classification))
        if found is None:
            raise _BadLine(unknown_term_reason(classification, terms))
        klass = found.value
    return ListEntry(
        value=hex_value,
        algorithm=algo.name,
        label=(label or "").strip() or None,
        classification=klass,
        source=(source or "").strip() or None,
        version=_version(version, algo),
    )


def parse_hash_value(text: str, default_algorithm: type[HashAlgorithm] | None = None) -> ListEntry:
    """Read one ``hex``, ``algorithm:hex`` or ``algorithm@version:hex`` value, as plain lines and ``lookup`` have them.

    Without an algorithm it is ``default_algorithm``, else guessed by length (64 hex is PDQ).

    Raises:
        ValueError: With the reason, if the value is unusable.

    """
    text = text.strip()
    if ":" not in text:
        # The common line of a big list, a bare hash: checked in a few steps here (millions of
        # lines); anything unusual about it goes the whole way below, which also says what is wrong.
        hex_value = text.lower()
        if is_hex(hex_value):
            algo = default_algorithm or _by_hex_length(len(hex_value))
            if algo is not None and len(hex_value) == algo.hex_len():
                return ListEntry(hex_value, algo.name, version=algo.version)
    named, sep, value = text.rpartition(":")
    algorithm, at, version = named.partition("@")
    cells = {"hash": value, "algorithm": algorithm if sep else None, "version": version if at else None}
    return _entry(cells, default_algorithm)


Parsed = ListEntry | LineError
"""One meaningful line of a list: its entry, or why it has none."""


class _Numbered:
    """Iterate lines while remembering the last one (a CSV record's line number names it)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.last = ""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        self.last = next(self._lines)
        return self.last


class HashListFormat(ABC):
    """A file form of a known hash list: how to recognise, read and write it.

    Reading streams: :meth:`iter_parse` takes lines (a file opened in text mode is lines) and
    yields as it goes, so a list of any length is read in constant memory.
    """

    name: ClassVar[ListFormat]

    @abstractmethod
    def looks_like(self, first_line: str) -> bool:
        """Whether a text whose first meaningful line is ``first_line`` is in this form."""

    @abstractmethod
    def iter_parse(self, lines: Iterable[str], default_algorithm: type[HashAlgorithm] | None,
                   terms: Terms = DEFAULT_CLASSIFICATION_MAP) -> Iterator[Parsed]:
        """Read lines (line ends kept or not); yield each entry or line error in order."""

    def parse(self, text: str, default_algorithm: type[HashAlgorithm] | None,
              terms: Terms = DEFAULT_CLASSIFICATION_MAP) -> ParsedList:
        """Read a whole text; collect entries and per-line errors."""
        out = ParsedList()
        for item in self.iter_parse(io.StringIO(text, newline=""), default_algorithm, terms):
            if isinstance(item, LineError):
                out.errors.append(item)
            else:
                out.entries.append(item)
        return out

    @abstractmethod
    def write(self, entries: Iterable[ListEntry]) -> str:
        """Write entries so that :meth:`parse` reads them back."""


class LinesFormat(HashListFormat):
    """One ``hex``, ``algorithm:hex`` or ``algorithm@version:hex`` per line; ``#`` comments and blank lines are skipped.

    Carries no labels or classifications: an export keeps only algorithm, value and a version
    that is not the current one.
    """

    name: ClassVar[ListFormat] = ListFormat.LINES

    def looks_like(self, first_line: str) -> bool:
        """Match anything: plain lines are the fallback form."""
        return True

    def iter_parse(self, lines: Iterable[str], default_algorithm: type[HashAlgorithm] | None,
                   terms: Terms = DEFAULT_CLASSIFICATION_MAP) -> Iterator[Parsed]:
        """Read ``[algorithm:]hex`` lines."""
        for line_no, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                yield parse_hash_value(line, default_algorithm)
            except _BadLine as exc:
                yield LineError(line_no, raw.rstrip("\r\n"), str(exc))

    def write(self, entries: Iterable[ListEntry]) -> str:
        """Write ``algorithm:hex`` lines (explicit: sha256 never reads back as pdq), ``@version`` if not current."""
        return "".join(f"{_versioned_name(e)}:{e.value}\n" for e in entries)


class CsvFormat(HashListFormat):
    """CSV with a header naming some of ``hash,algorithm,label,classification,source``.

    ``hash`` is required; an unknown column rejects the file (line 1), since a typo in a
    header would otherwise silently drop a column.
    """

    name: ClassVar[ListFormat] = ListFormat.CSV

    def looks_like(self, first_line: str) -> bool:
        """Match a header line that has a ``hash`` column."""
        cells = [c.strip().lower() for c in first_line.split(",")]
        return len(cells) > 1 and "hash" in cells

    def iter_parse(self, lines: Iterable[str], default_algorithm: type[HashAlgorithm] | None,
                   terms: Terms = DEFAULT_CLASSIFICATION_MAP) -> Iterator[Parsed]:
        """Read a header and then one entry per row."""
        numbered = _Numbered(lines)
        reader = csv.reader(numbered)
        header: list[str] | None = None
        first_raw: str | None = None
        for row in reader:
            line_no = reader.line_num
            raw = numbered.last.rstrip("\r\n")
            if first_raw is None:
                first_raw = raw
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                unknown = [c for c in header if c not in COLUMNS]
                problem = None
                if "hash" not in header:
                    problem = "header has no 'hash' column"
                elif unknown:
                    problem = f"unknown column(s) {', '.join(map(repr, unknown))}"
                elif len(set(header)) != len(header):
                    problem = "a column is named twice"
                if problem is not None:
                    yield LineError(line_no, raw, problem)
                    return
                continue
            if len(row) < len(header):
                missing = ", ".join(header[len(row) :])
                yield LineError(line_no, raw, f"missing column(s): {missing}")
                continue
            if len(row) > len(header):
                yield LineError(line_no, raw, "more cells than header columns")
                continue
            # Our own exports escape formula-like cells (core.spreadsheet); read them back as written.
            cells = {name: from_csv_cell(cell) for name, cell in zip(header, row, strict=True)}
            try:
                yield _entry(cells, default_algorithm, terms)
            except _BadLine as exc:
                yield LineError(line_no, raw, str(exc))
        if header is None and first_raw is not None:
            yield LineError(1, first_raw, "no header line")

    def write(self, entries: Iterable[ListEntry]) -> str:
        """Write the full header and one row per entry, formula-like text escaped (see :mod:`core.spreadsheet`)."""
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for e in entries:
            cells = (e.value, e.algorithm, e.label, e.classification, e.source, str(entry_version(e)))
            writer.writerow([csv_cell(c) for c in cells])
        return buf.getvalue()


class JsonLinesFormat(HashListFormat):
    """One JSON object per line with the CSV column names as keys (``hash`` required)."""

    name: ClassVar[ListFormat] = ListFormat.JSONL

    def looks_like(self, first_line: str) -> bool:
        """Match a line that opens a JSON object."""
        return first_line.lstrip().startswith("{")

    def iter_parse(self, lines: Iterable[str], default_algorithm: type[HashAlgorithm] | None,
                   terms: Terms = DEFAULT_CLASSIFICATION_MAP) -> Iterator[Parsed]:
        """Read one object per line."""
        for line_no, raw_line in enumerate(lines, start=1):
            raw = raw_line.rstrip("\r\n")
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield LineError(line_no, raw, f"broken JSON: {exc.msg}")
                continue
            except RecursionError:
                # json nests by recursion: a line of a few thousand brackets would otherwise end
                # the whole import with a traceback.
                yield LineError(line_no, raw, "JSON nested too deeply")
                continue
            if not isinstance(obj, dict):
                yield LineError(line_no, raw, "not a JSON object")
                continue
            unknown = sorted(set(obj) - set(COLUMNS))
            if unknown:
                yield LineError(line_no, raw, f"unknown key(s) {', '.join(map(repr, unknown))}")
                continue
            if "hash" not in obj:
                yield LineError(line_no, raw, "missing key 'hash'")
                continue
            try:
                yield _entry(obj, default_algorithm, terms)
            except _BadLine as exc:
                yield LineError(line_no, raw, str(exc))

    def write(self, entries: Iterable[ListEntry]) -> str:
        """Write one compact object per entry with every key (absent values as null)."""
        rows = []
        for e in entries:
            doc = asdict(e)
            doc["hash"] = doc.pop("value")
            doc["version"] = entry_version(e)
            rows.append(json.dumps({c: doc[c] for c in COLUMNS}, separators=(",", ":")) + "\n")
        return "".join(rows)


def entry_version(entry: ListEntry) -> int:
    """The entry's algorithm version: its own, or the registry's current one when it gives none."""
    if entry.version is not None:
        return entry.version
    return registry.get(entry.algorithm).version


def _versioned_name(entry: ListEntry) -> str:
    """``algorithm`` for the current version, ``algorithm@version`` for any other."""
    version = entry_version(entry)
    return entry.algorithm if version == registry.get(entry.algorithm).version else f"{entry.algorithm}@{version}"


def _by_name(formats: Sequence[HashListFormat]) -> dict[ListFormat, HashListFormat]:
    table: dict[ListFormat, HashListFormat] = {}
    for fmt in formats:
        if fmt.name in table:
            raise ConfigError(f"hash-list format {fmt.name!r} is registered twice")
        table[fmt.name] = fmt
    return table


# Recognition order matters: the plain-lines form accepts anything, so it is asked last.
FORMATS: dict[ListFormat, HashListFormat] = _by_name([JsonLinesFormat(), CsvFormat(), LinesFormat()])
"""Every registered list format by name."""


def _format(fmt: str | ListFormat) -> HashListFormat:
    try:
        return FORMATS[ListFormat(fmt)]
    except ValueError:
        known = ", ".join(f.value for f in ListFormat)
        raise ConfigError(f"unknown hash-list format {fmt!r}; known: {known}") from None


def _meaningful(line: str) -> bool:
    """Whether a line is neither blank nor a comment: the first such line tells a list's format."""
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _format_of(first_line: str) -> HashListFormat:
    return next(f for f in FORMATS.values() if f.looks_like(first_line))


def guess_format(text: str) -> ListFormat:
    """Recognise a list's format from its first line that is neither blank nor a comment."""
    return _format_of(next((ln for ln in text.splitlines() if _meaningful(ln)), "")).name


def _default(default_algorithm: str | None) -> type[HashAlgorithm] | None:
    if default_algorithm is None:
        return None
    default = registry.find(default_algorithm)
    if default is None:
        raise ConfigError(f"unknown hash algorithm {default_algorithm!r}; known: {registry.known()}")
    return default


def parse_hash_list(
    text: str,
    fmt: str | ListFormat | None = None,
    default_algorithm: str | None = None,
    classifications: Terms = DEFAULT_CLASSIFICATION_MAP,
) -> ParsedList:
    """Parse a known hash list.

    Args:
        text: The whole list.
        fmt: ``"lines"``, ``"csv"`` or ``"jsonl"``; guessed with :func:`guess_format` if None.
        default_algorithm: Algorithm of values that name none (e.g. ``"sha256"`` for a list
            of 64-hex SHA-256 values, which would otherwise be read as PDQ).
        classifications: How the list's classification terms read as orbweaver's (normalised
            term → class; :func:`matcher.classifications.classification_table`); a term it
            lacks is a line error.

    Returns:
        The usable entries and one :class:`LineError` per skipped line.

    Raises:
        ConfigError: If ``fmt`` or ``default_algorithm`` is unknown.

    """
    default = _default(default_algorithm)
    chosen = _format(fmt if fmt is not None else guess_format(text))
    return chosen.parse(text, default, classifications)


def iter_hash_list(
    lines: Iterable[str],
    fmt: str | ListFormat | None = None,
    default_algorithm: str | None = None,
    classifications: Terms = DEFAULT_CLASSIFICATION_MAP,
) -> Iterator[Parsed]:
    """Parse a known hash list as it is read: each entry or line error in order, in constant memory.

    Arguments as for :func:`parse_hash_list`, but ``lines`` is any iterable of lines (an open
    text file); without ``fmt`` the form is guessed from the first meaningful line.

    Raises:
        ConfigError: If ``fmt`` or ``default_algorithm`` is unknown (before anything is read).

    """
    default = _default(default_algorithm)
    chosen = _format(fmt) if fmt is not None else None
    source = iter(lines)
    if chosen is None:
        # Hold back the lines up to the first meaningful one, then hand all of them on.
        held: list[str] = []
        for line in source:
            held.append(line)
            if _meaningful(line):
                break
        chosen = _format_of(held[-1].rstrip("\r\n") if held else "")
        source = itertools.chain(held, source)
    return chosen.iter_parse(source, default, classifications)


def write_hash_list(entries: Iterable[ListEntry], fmt: str | ListFormat) -> str:
    """Write entries as a list in ``fmt`` that :func:`parse_hash_list` reads back.

    Raises:
        ConfigError: If ``fmt`` is unknown.

    """
    return _format(fmt).write(entries)


def variant_entries(parents: Sequence[ListEntry], data: bytes, *, min_pdq_quality: int = 0) -> list[ListEntry]:
    """Entries for the list-side variants of the picture ``data`` behind ``parents``.

    One definition for every image-backed list (``hashset add-images``, media analysts
    confirmed): for each perceptual parent whose algorithm :mod:`hashing.list_variants` hashes,
    every crop of :func:`hashing.list_variants.crop_family` becomes an entry of that algorithm
    with the parent's label, classification and source, tagged with the crop's name.

    Args:
        parents: The picture's own entries (any algorithms; exact ones get no variants).
        data: The encoded picture.
        min_pdq_quality: PDQ variants below this quality are left out, as parents are.

    Returns:
        The variant entries (none when no parent is of a variant algorithm).

    Raises:
        MediaDecodeError: If ``data`` is not a decodable image.
    """
    from hashing.list_variants import ALGORITHMS, list_variant_hashes_of

    by_algorithm = {p.algorithm: p for p in parents if p.algorithm in ALGORITHMS and not p.variant}
    if not by_algorithm:
        return []
    out = []
    for h in list_variant_hashes_of(data, tuple(by_algorithm)):
        if h.algorithm == "pdq" and h.quality is not None and h.quality < min_pdq_quality:
            continue
        parent = by_algorithm[h.algorithm]
        out.append(ListEntry(h.value, h.algorithm, parent.label, parent.classification, parent.source, h.version,
                             variant=h.variant, parent=parent.value))
    return out

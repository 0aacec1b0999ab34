"""Known hash lists: parsing each format, every kind of bad line, format guessing, export.

Hash values here are arbitrary hex strings (md5/sha of short benign text or made-up digits).
"""

from __future__ import annotations

import hashlib

import pytest

from core.errors import ConfigError
from core.messages import Classification
from hashing import registry
from matcher.classifications import DEFAULT_CLASSIFICATION_MAP, classification_table, unknown_term_reason
from matcher.lists import (
    LineError,
    ListEntry,
    ListFormat,
    guess_format,
    parse_hash_list,
    parse_hash_value,
    write_hash_list,
)

MD5 = hashlib.md5(b"benign one").hexdigest()
SHA1 = hashlib.sha1(b"benign two").hexdigest()
SHA256 = hashlib.sha256(b"benign three").hexdigest()
PDQ = "f" * 16 + "0" * 16 + "a5" * 16
PHASH = "0123456789abcdef"


def reasons(errors: list[LineError]) -> list[tuple[int, str]]:
    return [(e.line_no, e.reason) for e in errors]


class TestLines:
    def test_bare_values_are_typed_by_length_and_lowercased(self) -> None:
        text = f"# a comment\n\n{MD5.upper()}\n  {SHA1}  \n{PDQ}\n{PHASH}\n"
        parsed = parse_hash_list(text, "lines")
        assert parsed.errors == []
        assert [(e.algorithm, e.value) for e in parsed.entries] == [
            ("md5", MD5),
            ("sha1", SHA1),
            ("pdq", PDQ),
            ("phash", PHASH),
        ]

    def test_named_algorithm_prefix(self) -> None:
        parsed = parse_hash_list(f"sha256:{SHA256}\nPDQ:{PDQ}\n", "lines")
        assert parsed.errors == []
        assert [(e.algorithm, e.value) for e in parsed.entries] == [("sha256", SHA256), ("pdq", PDQ)]

    def test_default_algorithm_resolves_64_hex_and_is_enforced(self) -> None:
        parsed = parse_hash_list(f"{SHA256}\n{MD5}\n", "lines", default_algorithm="sha256")
        assert [(e.algorithm, e.value) for e in parsed.entries] == [("sha256", SHA256)]
        assert reasons(parsed.errors) == [(2, "sha256 needs 64 hex characters, not 32")]

    def test_unknown_default_algorithm_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError):
            parse_hash_list(MD5, "lines", default_algorithm="crc32")

    def test_every_bad_line_is_reported_with_its_number(self) -> None:
        text = "\n".join(
            [
                MD5,  # 1 ok
                "xyz" + MD5[3:],  # 2 not hex
                MD5[:-1],  # 3 odd length
                "abcd",  # 4 no algorithm of that length
                f"md5:{SHA1}",  # 5 wrong length for named algorithm
                f"crc32:{MD5}",  # 6 unknown algorithm
                "sha1:",  # 7 empty hash
                "# fine",  # 8 comment
            ]
        )
        parsed = parse_hash_list(text, "lines")
        assert [e.value for e in parsed.entries] == [MD5]
        assert [e.line_no for e in parsed.errors] == [2, 3, 4, 5, 6, 7]
        by_line = {e.line_no: e for e in parsed.errors}
        assert by_line[2].reason.startswith("hash is not hex")
        assert by_line[2].line == "xyz" + MD5[3:]
        assert by_line[3].reason.startswith("hash is not hex")
        assert by_line[4].reason == "no algorithm has 4 hex characters"
        assert by_line[5].reason == "md5 needs 32 hex characters, not 40"
        assert by_line[6].reason == "unknown algorithm 'crc32'"
        assert by_line[7].reason == "missing hash"


class TestCsv:
    def test_full_rows(self) -> None:
        text = (
            "hash,algorithm,label,classification,source\n"
            f"{MD5},md5,case 1,baseline_csam,hotline A\n"
            f"{SHA256},sha256,,,\n"
            f'{PDQ},,"label, with comma",NOT_CSAM,\n'
        )
        parsed = parse_hash_list(text, "csv")
        assert parsed.errors == []
        assert parsed.entries == [
            ListEntry(MD5, "md5", "case 1", "baseline_csam", "hotline A"),
            ListEntry(SHA256, "sha256"),
            ListEntry(PDQ, "pdq", "label, with comma", "not_csam"),
        ]

    def test_columns_in_any_order_and_subset(self) -> None:
        parsed = parse_hash_list(f"label,hash\nx,{PHASH}\n", "csv")
        assert parsed.entries == [ListEntry(PHASH, "phash", "x")]

    def test_bad_rows(self) -> None:
        text = (
            "hash,algorithm,label,classification\n"  # 1
            f"{MD5},md5,ok,\n"  # 2 ok
            f"{MD5},md5\n"  # 3 missing columns
            f"{MD5},md5,x,,extra\n"  # 4 too many cells
            f"{MD5},md5,x,very_bad\n"  # 5 unknown classification
            f"{MD5},sha1,x,\n"  # 6 wrong length
            f"{MD5},whirlpool,x,\n"  # 7 unknown algorithm
            "\n"  # 8 blank
            f"zz{MD5[2:]},md5,x,\n"  # 9 bad hex
        )
        parsed = parse_hash_list(text, "csv")
        assert [e.value for e in parsed.entries] == [MD5]
        assert reasons(parsed.errors) == [
            (3, "missing column(s): label, classification"),
            (4, "more cells than header columns"),
            (5, unknown_term_reason("very_bad", DEFAULT_CLASSIFICATION_MAP)),
            (6, "sha1 needs 40 hex characters, not 32"),
            (7, "unknown algorithm 'whirlpool'"),
            (9, f"hash is not hex: 'zz{MD5[2:]}'"),
        ]
        assert parsed.errors[0].line == f"{MD5},md5"

    @pytest.mark.parametrize(
        ("header", "reason"),
        [
            ("value,algorithm", "header has no 'hash' column"),
            ("hash,algoritm", "unknown column(s) 'algoritm'"),
            ("hash,label,label", "a column is named twice"),
        ],
    )
    def test_bad_header_rejects_the_file(self, header: str, reason: str) -> None:
        parsed = parse_hash_list(f"{header}\n{MD5},x\n", "csv")
        assert parsed.entries == []
        assert reasons(parsed.errors) == [(1, reason)]


class TestJsonLines:
    def test_objects(self) -> None:
        text = (
            f'{{"hash": "{MD5.upper()}", "label": "a"}}\n'
            "\n"
            f'{{"hash": "{SHA256}", "algorithm": "sha256", "classification": null, "source": "s"}}\n'
        )
        parsed = parse_hash_list(text, "jsonl")
        assert parsed.errors == []
        assert parsed.entries == [
            ListEntry(MD5, "md5", "a"),
            ListEntry(SHA256, "sha256", source="s"),
        ]

    def test_bad_lines(self) -> None:
        text = "\n".join(
            [
                f'{{"hash": "{MD5}"}}',  # 1 ok
                f'{{"hash": "{MD5}"',  # 2 broken JSON
                f'["{MD5}"]',  # 3 not an object
                '{"label": "x"}',  # 4 missing hash
                f'{{"hash": "{MD5}", "colour": "red"}}',  # 5 unknown key
                f'{{"hash": "{MD5}", "classification": "maybe"}}',  # 6 unknown classification
                '{"hash": 12345}',  # 7 not text
                f'{{"hash": "{MD5}", "algorithm": "sha1"}}',  # 8 wrong length
            ]
        )
        parsed = parse_hash_list(text, "jsonl")
        assert [e.value for e in parsed.entries] == [MD5]
        got = reasons(parsed.errors)
        assert [n for n, _ in got] == [2, 3, 4, 5, 6, 7, 8]
        assert got[0][1].startswith("broken JSON")
        assert got[1:] == [
            (3, "not a JSON object"),
            (4, "missing key 'hash'"),
            (5, "unknown key(s) 'colour'"),
            (6, unknown_term_reason("maybe", DEFAULT_CLASSIFICATION_MAP)),
            (7, "hash must be text, not int"),
            (8, "sha1 needs 40 hex characters, not 32"),
        ]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (f"{MD5}\n", ListFormat.LINES),
        (f"# list\nmd5:{MD5}\n", ListFormat.LINES),
        (f"hash,algorithm\n{MD5},md5\n", ListFormat.CSV),
        (f"# exported\nHash,Label\n{MD5},x\n", ListFormat.CSV),
        (f'\n{{"hash": "{MD5}"}}\n', ListFormat.JSONL),
        ("", ListFormat.LINES),
    ],
)
def test_guess_format(text: str, fmt: ListFormat) -> None:
    assert guess_format(text) == fmt


def test_guessed_format_is_used_when_none_is_given() -> None:
    parsed = parse_hash_list(f'{{"hash": "{MD5}", "label": "via json"}}\n')
    assert parsed.entries == [ListEntry(MD5, "md5", "via json")]


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_hash_list(MD5, "xml")
    with pytest.raises(ConfigError):
        write_hash_list([], "xml")


ENTRIES = [
    ListEntry(MD5, "md5", "label one", "baseline_csam", "hotline"),
    ListEntry(SHA1, "sha1"),
    ListEntry(SHA256, "sha256", 'tricky, "quoted"\tlabel', None, "src"),
    ListEntry(PDQ, "pdq", None, "unable_to_assess"),
    ListEntry(PHASH, "phash", "ünïcode"),
]


@pytest.mark.parametrize("fmt", [ListFormat.CSV, ListFormat.JSONL])
def test_export_round_trip(fmt: ListFormat) -> None:
    text = write_hash_list(ENTRIES, fmt)
    assert guess_format(text) == fmt
    parsed = parse_hash_list(text)
    assert parsed.errors == []
    assert parsed.entries == ENTRIES


def test_lines_export_keeps_algorithm_and_value() -> None:
    text = write_hash_list(ENTRIES, "lines")
    parsed = parse_hash_list(text, "lines")
    assert parsed.errors == []
    # sha256 stays sha256 (not pdq) because the export names every algorithm.
    assert [(e.algorithm, e.value) for e in parsed.entries] == [(e.algorithm, e.value) for e in ENTRIES]


# The vocabularies real lists use (NCMEC/X-ARF, INTERPOL, IWF, Shield), each spelt as issuers write them.
VOCABULARY = [
    ("baseline", "baseline_csam"), ("INTERPOL Baseline", "baseline_csam"), ("interpol_baseline", "baseline_csam"),
    ("A1", "baseline_csam"), ("a2", "baseline_csam"), ("B1", "nationally_illegal"), ("B2", "nationally_illegal"),
    ("IWF-A", "nationally_illegal"), ("Category B", "nationally_illegal"), ("cat_c", "nationally_illegal"),
    ("csam", "nationally_illegal"), ("harmful-abusive-material", "harmful_abusive"),
    (" Baseline_CSAM ", "baseline_csam"), ("not_csam", "not_csam"),
]


@pytest.mark.parametrize(("term", "expected"), VOCABULARY)
def test_classification_vocabularies_map_to_orbweaver_classes(term: str, expected: str) -> None:
    csv_list = parse_hash_list(f"hash,classification\n{MD5},{term}\n", "csv")
    jsonl = parse_hash_list(f'{{"hash": "{MD5}", "classification": "{term}"}}\n', "jsonl")
    assert [e.classification for e in csv_list.entries + jsonl.entries] == [expected, expected]
    assert csv_list.errors == jsonl.errors == []


def test_unknown_and_ambiguous_terms_are_line_errors_until_mapped() -> None:
    text = f"hash,classification\n{MD5},A\n{SHA1},Sev 3\n"
    parsed = parse_hash_list(text, "csv")
    assert parsed.entries == []
    assert reasons(parsed.errors) == [(2, unknown_term_reason("A", DEFAULT_CLASSIFICATION_MAP)),
                                      (3, unknown_term_reason("Sev 3", DEFAULT_CLASSIFICATION_MAP))]
    assert "baseline, " in parsed.errors[0].reason and "[matcher] classification_map" in parsed.errors[0].reason
    table = classification_table({"a": Classification.NATIONALLY_ILLEGAL, "SEV-3": Classification.HARMFUL_ABUSIVE,
                                  "csam": Classification.BASELINE_CSAM})
    mapped = parse_hash_list(text + f"{MD5[::-1]},CSAM\n", "csv", classifications=table)
    assert [e.classification for e in mapped.entries] == ["nationally_illegal", "harmful_abusive", "baseline_csam"]


@pytest.mark.parametrize("value", [MD5, SHA1.upper(), PDQ, PHASH, f"  {SHA256}\n"])
def test_a_bare_hash_reads_as_the_same_entry_as_a_named_one(value: str) -> None:
    # Bare values take a short path (millions of lines per import); it must agree with the full one.
    bare = parse_hash_value(value)
    assert bare == parse_hash_value(f"{bare.algorithm}:{value.strip()}")
    assert bare.value == value.strip().lower() and bare.version is not None


def test_a_bare_hash_of_the_wrong_length_for_the_default_algorithm_says_so() -> None:
    sha256 = registry.get("sha256")
    assert parse_hash_value(PDQ, sha256) == ListEntry(PDQ, "sha256", version=sha256.version)
    with pytest.raises(ValueError, match="sha256 needs 64 hex characters, not 32"):
        parse_hash_value(MD5, sha256)
    with pytest.raises(ValueError, match="no algorithm has 6 hex characters"):
        parse_hash_value("abcdef")

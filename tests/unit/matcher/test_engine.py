"""The Matcher end to end over a SQLite store: exact and near matches, sets, changes, reloads.

All hashes are made-up hex values or digests of short benign strings.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from core.errors import PermanentError
from core.messages import HashValue
from core.store import Store
from matcher.engine import Matcher
from matcher.hashsets import enabled_entries, import_entries, remove_entries, set_enabled
from matcher.lists import ListEntry
from matcher.registry import load_index
from matcher.settings import MatcherSettings


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def flip(hex_value: str, n_bits: int) -> str:
    """Flip the lowest ``n_bits`` bits, spread one per hex digit from the start."""
    digits = list(hex_value)
    for i in range(n_bits):
        digits[i] = format(int(digits[i], 16) ^ 1, "x")
    return "".join(digits)


PDQ = "5a" * 32
PHASH = "c3" * 8


@pytest.fixture
def loaded(store: Store) -> tuple[Store, Matcher]:
    import_entries(
        store,
        "hotline",
        [
            ListEntry(md5("known"), "md5", "known file", "baseline_csam"),
            ListEntry(PDQ, "pdq", "known picture", "harmful_abusive"),
            ListEntry(PHASH, "phash", "known thumb"),
        ],
    )
    matcher = Matcher(store, MatcherSettings())
    matcher.load()
    return store, matcher


def test_exact_md5_match(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    hits = matcher.match([HashValue(algorithm="md5", value=md5("known").upper())])
    assert [(h.algorithm, h.distance, h.hash_set, h.entry_label, h.classification) for h in hits] == [
        ("md5", 0, "hotline", "known file", "baseline_csam")
    ]
    assert hits[0].query_hash == md5("known")
    assert matcher.match([HashValue(algorithm="md5", value=md5("other"))]) == []


def test_near_pdq_match_is_inclusive_of_the_radius(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    assert [h.distance for h in matcher.match([HashValue(algorithm="pdq", value=flip(PDQ, 31))])] == [31]
    assert matcher.match([HashValue(algorithm="pdq", value=flip(PDQ, 32))]) == []
    assert [h.distance for h in matcher.match([HashValue(algorithm="phash", value=flip(PHASH, 8))])] == [8]
    assert matcher.match([HashValue(algorithm="phash", value=flip(PHASH, 9))]) == []


def test_hits_are_ordered_best_first_and_deduplicated(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    hits = matcher.match(
        [
            HashValue(algorithm="pdq", value=flip(PDQ, 20)),  # 20/256
            HashValue(algorithm="pdq", value=flip(PDQ, 4)),  # the same entry, closer: 4/256
            HashValue(algorithm="phash", value=flip(PHASH, 2)),  # 2/64 = 8/256
            HashValue(algorithm="md5", value=md5("known")),  # 0
            HashValue(algorithm="whirlpool", value="00"),  # unknown algorithm: ignored
        ]
    )
    assert [(h.algorithm, h.distance) for h in hits] == [("md5", 0), ("pdq", 4), ("phash", 2)]
    assert hits[1].query_hash == flip(PDQ, 4)


def test_malformed_hash_of_a_known_algorithm_is_permanent(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    for value in ["", "zz" * 32, PDQ[:-2]]:
        with pytest.raises(PermanentError):
            matcher.match([HashValue(algorithm="pdq", value=value)])


def test_disabled_set_is_not_matched(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    import_entries(store, "other", [ListEntry(md5("second"), "md5")])
    set_enabled(store, "other", False)
    matcher.reload()
    assert matcher.match([HashValue(algorithm="md5", value=md5("second"))]) == []
    set_enabled(store, "other", True)
    matcher.reload()
    assert [h.hash_set for h in matcher.match([HashValue(algorithm="md5", value=md5("second"))])] == ["other"]


def test_same_hash_in_two_sets_gives_two_hits(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    import_entries(store, "partner", [ListEntry(PDQ, "pdq", "partner copy")])
    matcher.reload()
    hits = matcher.match([HashValue(algorithm="pdq", value=PDQ)])
    assert sorted(h.hash_set for h in hits) == ["hotline", "partner"]


def test_removed_entry_is_unmatchable_after_reload(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    query = [HashValue(algorithm="pdq", value=flip(PDQ, 3))]
    assert matcher.match(query)
    remove_entries(store, "hotline", [PDQ])
    assert matcher.match(query)  # still loaded until the reload
    matcher.reload()
    assert matcher.match(query) == []
    assert matcher.counts() == {"md5": 1, "phash": 1}


def test_apply_adds_and_removes_without_a_reload(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    new_pdq = "a5" * 32
    result = import_entries(store, "late", [ListEntry(new_pdq, "pdq"), ListEntry("aa" * 20, "sha1")])
    assert matcher.match([HashValue(algorithm="pdq", value=new_pdq)]) == []
    matcher.apply(enabled_entries(store, result.added_ids), [])
    assert [h.hash_set for h in matcher.match([HashValue(algorithm="pdq", value=new_pdq)])] == ["late"]
    assert [h.algorithm for h in matcher.match([HashValue(algorithm="sha1", value="aa" * 20)])] == ["sha1"]
    removed = remove_entries(store, "hotline", [md5("known")])
    matcher.apply([], removed)
    assert matcher.match([HashValue(algorithm="md5", value=md5("known"))]) == []
    assert matcher.counts() == {"md5": 0, "pdq": 2, "phash": 1, "sha1": 1}


def test_radius_comes_from_settings(store: Store) -> None:
    import_entries(store, "s", [ListEntry(PDQ, "pdq")])
    matcher = Matcher(store, MatcherSettings(radius={"pdq": 10}, index="faiss-multihash"))
    matcher.reload()
    assert matcher.match([HashValue(algorithm="pdq", value=flip(PDQ, 10))])
    assert matcher.match([HashValue(algorithm="pdq", value=flip(PDQ, 11))]) == []


def test_reload_saves_indexes_when_a_folder_is_set(store: Store, tmp_path: Path) -> None:
    import_entries(store, "s", [ListEntry(PDQ, "pdq"), ListEntry(md5("x"), "md5")])
    matcher = Matcher(store, MatcherSettings(index_dir=tmp_path / "idx"))
    matcher.reload()
    pdq_index = load_index(tmp_path / "idx" / "pdq")
    assert len(pdq_index) == 1
    assert len(load_index(tmp_path / "idx" / "md5")) == 1


def test_match_is_consistent_while_reloading(store: Store) -> None:
    import_entries(store, "s", [ListEntry(format(i, "064x"), "pdq") for i in range(1, 300)])
    matcher = Matcher(store)
    matcher.reload()
    query = [HashValue(algorithm="pdq", value=format(7, "064x"))]
    expected = matcher.match(query)
    assert expected
    stop = threading.Event()
    errors: list[BaseException] = []

    def reload_forever() -> None:
        try:
            while not stop.is_set():
                matcher.reload()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=reload_forever)
    thread.start()
    try:
        for _ in range(200):
            assert matcher.match(query) == expected
    finally:
        stop.set()
        thread.join()
    assert errors == []

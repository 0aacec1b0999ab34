"""The Matcher end to end over a SQLite store: exact and near matches, variants, sets, changes, reloads.

All hashes are made-up hex values or digests of short benign strings.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from core.errors import PermanentError
from core.messages import HashSetChange, HashValue, MatchDecision
from core.store import Store
from matcher import hashsets
from matcher.engine import Matcher
from matcher.hashsets import UnknownHashSetError, import_entries, remove_entries, remove_set, set_enabled
from matcher.lists import ListEntry
from matcher.registry import load_index
from matcher.settings import MatcherSettings, Thresholds


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


def pdq(value: str, variant: str = "", quality: int | None = None) -> HashValue:
    return HashValue(algorithm="pdq", value=value, variant=variant, quality=quality)


@pytest.fixture
def loaded(store: Store) -> tuple[Store, Matcher]:
    import_entries(
        store,
        "hotline",
        [
            ListEntry(md5("known"), "md5", "known file", "baseline_csam"),
            ListEntry(PDQ, "pdq", "known picture", "harmful_abusive"),
            ListEntry(PHASH, "phash", "known picture"),
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


def test_near_match_is_inclusive_of_the_review_threshold(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    assert [h.distance for h in matcher.match([pdq(flip(PDQ, 31))])] == [31]
    assert matcher.match([pdq(flip(PDQ, 32))]) == []
    assert [h.distance for h in matcher.match([HashValue(algorithm="phash", value=flip(PHASH, 8))])] == [8]
    assert matcher.match([HashValue(algorithm="phash", value=flip(PHASH, 9))]) == []


def test_hits_are_ordered_best_first_and_carry_the_closest_variant(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    hits = matcher.match(
        [
            pdq(flip(PDQ, 20)),  # 20/256, the image as given
            pdq(flip(PDQ, 4), "pdq-dihedral:rot90"),  # the same entry, closer: 4/256
            pdq(flip(PDQ, 4), "trimmed"),  # as close again: the first variant is kept
            HashValue(algorithm="phash", value=flip(PHASH, 2), variant="trimmed"),  # 2/64 = 8/256
            HashValue(algorithm="md5", value=md5("known")),  # 0
            HashValue(algorithm="whirlpool", value="00"),  # unknown algorithm: ignored
        ]
    )
    assert [(h.algorithm, h.distance, h.variant) for h in hits] == [
        ("md5", 0, ""),
        ("pdq", 4, "pdq-dihedral:rot90"),
        ("phash", 2, "trimmed"),
    ]
    assert hits[1].query_hash == flip(PDQ, 4)


def test_low_quality_pdq_is_not_matched(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    assert matcher.match([pdq(PDQ, quality=49)]) == []
    assert [h.distance for h in matcher.match([pdq(PDQ, quality=50)])] == [0]
    assert [h.distance for h in matcher.match([pdq(PDQ, quality=None)])] == [0]  # a bare hash from a list


def test_evaluate_fuses_hits_and_puts_the_deciding_hit_first(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    confident = matcher.evaluate([pdq(flip(PDQ, 16)), HashValue(algorithm="phash", value=flip(PHASH, 6))])
    assert confident.verdict.decision is MatchDecision.MATCH
    assert [h.algorithm for h in confident.hits] == ["pdq", "phash"]  # pdq decided it, though phash is closer
    review = matcher.evaluate([pdq(flip(PDQ, 25))])
    assert (review.verdict.decision, review.verdict.reason) == (MatchDecision.REVIEW, "pdq 25 <= 31")
    joint = matcher.evaluate([pdq(flip(PDQ, 26)), HashValue(algorithm="phash", value=flip(PHASH, 4))])
    assert joint.verdict.decision is MatchDecision.MATCH and "jointly" in joint.verdict.reason
    assert matcher.evaluate([pdq("00" * 32)]).verdict.decision is MatchDecision.NONE


def test_malformed_hash_of_a_known_algorithm_is_permanent(loaded: tuple[Store, Matcher]) -> None:
    _, matcher = loaded
    for value in ["", "zz" * 32, PDQ[:-2]]:
        with pytest.raises(PermanentError):
            matcher.match([pdq(value)])


def test_same_hash_in_two_sets_gives_two_hits(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    import_entries(store, "partner", [ListEntry(PDQ, "pdq", "partner copy")])
    matcher.reload()
    hits = matcher.match([pdq(PDQ)])
    assert sorted(h.hash_set for h in hits) == ["hotline", "partner"]


def test_a_removed_entry_is_never_reported_even_before_its_change_arrives(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    query = [pdq(flip(PDQ, 3))]
    assert matcher.match(query)
    edit = remove_entries(store, "hotline", [PDQ])
    assert matcher.match(query) == []  # the store, the source of truth, no longer has it
    assert matcher.counts()["pdq"] == 1  # still indexed until the change is applied
    assert [matcher.apply_change(c) for c in edit.changes] == ["applied"]
    assert matcher.counts() == {"md5": 1, "pdq": 0, "phash": 1}


def test_changes_apply_in_place_without_a_rebuild(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    pdq_index = matcher._indexes["pdq", 1].index
    new_pdq = "a5" * 32
    result = import_entries(store, "late", [ListEntry(new_pdq, "pdq", "new"), ListEntry("aa" * 20, "sha1")])
    assert matcher.match([pdq(new_pdq)]) == []
    assert [matcher.apply_change(c) for c in result.changes] == ["applied"]
    assert [h.hash_set for h in matcher.match([pdq(new_pdq)])] == ["late"]
    assert [h.algorithm for h in matcher.match([HashValue(algorithm="sha1", value="aa" * 20)])] == ["sha1"]
    assert matcher._indexes["pdq", 1].index is pdq_index
    # Replaying a change (a redelivery) changes nothing.
    assert [matcher.apply_change(c) for c in result.changes] == ["seen"]
    assert matcher.counts() == {"md5": 1, "pdq": 2, "phash": 1, "sha1": 1}
    assert matcher.generations()["late"] == result.changes[-1].generation


def test_a_gap_in_generations_re_reads_the_set(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    first = import_entries(store, "s", [ListEntry("11" * 32, "pdq")])
    second = import_entries(store, "s", [ListEntry("22" * 32, "pdq")])
    assert [c.generation for c in first.changes + second.changes] == [1, 2]
    # The first announcement was lost: the second reveals the gap and the set is read again.
    assert matcher.apply_change(second.changes[0]) == "reloaded"
    assert matcher.match([pdq("11" * 32)]) and matcher.match([pdq("22" * 32)])
    assert matcher.apply_change(first.changes[0]) == "seen"
    assert matcher.generations()["s"] == 2


def test_disable_enable_and_delete_are_announced_as_set_reloads(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    query = [HashValue(algorithm="md5", value=md5("known"))]
    off = set_enabled(store, "hotline", False)
    assert [c.reload for c in off.changes] == [True]
    assert matcher.apply_change(off.changes[0]) == "reloaded"
    assert matcher.match(query) == [] and matcher.counts() == {"md5": 0, "pdq": 0, "phash": 0}
    assert set_enabled(store, "hotline", False).changes == []  # nothing changed, nothing to announce
    on = set_enabled(store, "hotline", True)
    matcher.apply_change(on.changes[0])
    assert matcher.match(query)
    gone = remove_set(store, "hotline")
    assert matcher.apply_change(gone.changes[0]) == "reloaded"
    assert matcher.match(query) == [] and "hotline" not in matcher.generations()


def test_large_edits_are_announced_in_consecutive_chunks(
    loaded: tuple[Store, Matcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, matcher = loaded
    monkeypatch.setattr(hashsets, "CHANGE_CHUNK", 4)
    values = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(10)]  # far apart
    result = import_entries(store, "big", [ListEntry(v, "pdq") for v in values])
    assert [len(c.added_ids) for c in result.changes] == [4, 4, 2]
    assert [c.generation for c in result.changes] == [1, 2, 3]
    assert {"applied"} == {matcher.apply_change(c) for c in result.changes}
    assert all(matcher.match([pdq(v)]) for v in values)
    edit = remove_entries(store, "big", values[:9])
    assert [len(c.removed_ids) for c in edit.changes] == [4, 4, 1]
    for change in edit.changes:
        matcher.apply_change(change)
    assert [bool(matcher.match([pdq(v)])) for v in values[7:]] == [False, False, True]


def test_resync_finds_a_change_that_was_never_announced(loaded: tuple[Store, Matcher]) -> None:
    store, matcher = loaded
    assert matcher.resync() == []
    import_entries(store, "unannounced", [ListEntry("33" * 32, "pdq")])  # changes not published
    remove_entries(store, "hotline", [PHASH])
    assert matcher.resync() == ["hotline", "unannounced"]
    assert matcher.match([pdq("33" * 32)])
    assert matcher.counts()["phash"] == 0
    assert matcher.resync() == []


def test_a_change_to_a_set_outside_the_scope_is_ignored(loaded: tuple[Store, Matcher]) -> None:
    store, _ = loaded
    set_enabled(store, "hotline", False)
    import_entries(store, "other", [ListEntry(md5("other"), "md5")])
    scoped = Matcher(store, sets=["hotline"])
    scoped.load()
    # A named set is matched even when disabled (an operator asked for it); others are not.
    assert scoped.match([HashValue(algorithm="md5", value=md5("known"))])
    assert scoped.match([HashValue(algorithm="md5", value=md5("other"))]) == []
    change = HashSetChange(hash_set="other", generation=9, added_ids=[1])
    assert scoped.apply_change(change) == "ignored"
    with pytest.raises(UnknownHashSetError, match="nope"):
        Matcher(store, sets=["nope"]).load()


def test_thresholds_come_from_settings(store: Store) -> None:
    import_entries(store, "s", [ListEntry(PDQ, "pdq")])
    settings = MatcherSettings(thresholds={"pdq": Thresholds(match=4, review=10)}, index="faiss-multihash")
    matcher = Matcher(store, settings)
    matcher.reload()
    assert matcher.match([pdq(flip(PDQ, 10))])
    assert matcher.match([pdq(flip(PDQ, 11))]) == []
    assert matcher.evaluate([pdq(flip(PDQ, 5))]).verdict.decision is MatchDecision.REVIEW
    assert matcher.evaluate([pdq(flip(PDQ, 4))]).verdict.decision is MatchDecision.MATCH


def test_reload_saves_indexes_when_a_folder_is_set(store: Store, tmp_path: Path) -> None:
    import_entries(store, "s", [ListEntry(PDQ, "pdq"), ListEntry(md5("x"), "md5")])
    matcher = Matcher(store, MatcherSettings(index_dir=tmp_path / "idx"))
    matcher.reload()
    (folder,) = (tmp_path / "idx").glob("snapshot-*")
    pdq_index = load_index(folder / "pdq@1")
    assert len(pdq_index) == 1
    assert len(load_index(folder / "md5@1")) == 1


def test_match_is_consistent_while_reloading(store: Store) -> None:
    import_entries(store, "s", [ListEntry(format(i, "064x"), "pdq") for i in range(1, 300)])
    matcher = Matcher(store)
    matcher.reload()
    query = [pdq(format(7, "064x"))]
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

"""Survivor lists: hashes a person sent join a list of kind survivor, and the matcher's hits on it go to analysts."""

from __future__ import annotations

import hashlib

import pytest

from core.messages import HashSetKind, HashValue, MatchDecision
from core.store import Store
from matcher.engine import Matcher
from matcher.hashsets import ListKindError, import_entries, list_sets
from matcher.lists import ListEntry
from matcher.survivors import (
    SURVIVOR_LIST,
    FrameHash,
    SurvivorFile,
    SurvivorHashError,
    latest_submissions,
    submit,
)
from tests.fixtures.clock import FakeClock

PDQ = "f" * 16 + "0" * 16 + "a5" * 16


def a_file(name: str, pdq_quality: int = 90) -> SurvivorFile:
    return SurvivorFile(md5=hashlib.md5(name.encode()).hexdigest(), sha256=hashlib.sha256(name.encode()).hexdigest(),
                        pdq=(FrameHash(PDQ, pdq_quality),))


def test_a_submission_joins_the_survivor_list_and_its_hits_go_to_review(store: Store) -> None:
    clock = FakeClock()
    receipt = submit(store, [a_file("one"), a_file("two", pdq_quality=10)], "<b>my note</b>", at=clock(),
                     min_pdq_quality=50)
    assert receipt.code.startswith("S-") and (receipt.files, receipt.hashes, receipt.low_quality) == (2, 5, 1)
    assert receipt.changes and receipt.changes[0].hash_set == SURVIVOR_LIST
    (summary,) = list_sets(store)
    assert (summary.name, summary.kind, summary.counts) == (SURVIVOR_LIST, HashSetKind.SURVIVOR,
                                                            {"md5": 2, "pdq": 1, "sha256": 2})
    (kept,) = latest_submissions(store)
    assert (kept.code, kept.note, kept.files) == (receipt.code, "<b>my note</b>", 2)

    matcher = Matcher(store)
    matcher.load()
    exact = matcher.evaluate([HashValue(algorithm="sha256", value=hashlib.sha256(b"one").hexdigest())])
    close = matcher.evaluate([HashValue(algorithm="pdq", value=PDQ, quality=100)])
    assert exact.verdict.decision is MatchDecision.REVIEW  # identical, yet never confirmed by itself
    assert exact.hits[0].list_kind is HashSetKind.SURVIVOR
    # The label names the submission's number, never the person's reference code (labels reach API callers).
    assert exact.hits[0].entry_label == f"survivor submission {kept.number} file 1"
    assert receipt.code not in str([h.model_dump() for h in exact.hits + close.hits])
    assert close.verdict.decision is MatchDecision.REVIEW


def test_a_bad_hash_stores_nothing(store: Store) -> None:
    bad = SurvivorFile(md5="z" * 32, sha256="0" * 64)
    with pytest.raises(SurvivorHashError):
        submit(store, [a_file("one"), bad], None, at=FakeClock()(), min_pdq_quality=50)
    assert list_sets(store) == [] and latest_submissions(store) == []


def test_known_and_survivor_lists_never_mix(store: Store) -> None:
    import_entries(store, "known", [ListEntry("0" * 32, "md5")])
    with pytest.raises(ListKindError):
        submit(store, [a_file("one")], None, at=FakeClock()(), min_pdq_quality=50, list_name="known")
    submit(store, [a_file("one")], None, at=FakeClock()(), min_pdq_quality=50)
    with pytest.raises(ListKindError):
        import_entries(store, SURVIVOR_LIST, [ListEntry("1" * 32, "md5")])

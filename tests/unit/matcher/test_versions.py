"""Hashes of different versions of one algorithm are never compared: skipped, counted, logged once per list.

All hashes are made-up hex values.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from core.messages import HashValue, MatchDecision
from core.store import Store
from hashing.algorithms import Pdq
from matcher.engine import Matcher
from matcher.hashsets import export_entries, import_entries
from matcher.lists import ListEntry, parse_hash_list, write_hash_list
from matcher.settings import MatcherSettings

PDQ = "5a" * 32
DHASH = "c3" * 8


@contextmanager
def every_log() -> Iterator[list[MutableMapping[str, Any]]]:
    """``capture_logs`` at every level: a test before this one may have configured logging to drop info."""
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(wrapper_class=wrapper)


def skipped(algorithm: str, hash_version: int, list_version: int) -> float:
    value = REGISTRY.get_sample_value("orbweaver_matcher_version_skipped_total",
                                      {"algorithm": algorithm, "hash_version": str(hash_version),
                                       "list_version": str(list_version)})
    return value or 0.0


def pdq(version: int, value: str = PDQ) -> HashValue:
    return HashValue(algorithm="pdq", version=version, value=value)


@pytest.fixture
def v1_lists(store: Store) -> Matcher:
    for name in ("hotline", "partner"):
        import_entries(store, name, [ListEntry(PDQ, "pdq", "known picture", version=1)])
    matcher = Matcher(store, MatcherSettings())
    matcher.load()
    return matcher


def test_a_v2_hash_never_matches_a_v1_entry_of_identical_bits(v1_lists: Matcher) -> None:
    assert sorted(h.hash_set for h in v1_lists.match([pdq(1)])) == ["hotline", "partner"]  # same version
    before = skipped("pdq", 2, 1)
    with every_log() as logs:
        outcomes = v1_lists.evaluate_many([[pdq(2)] for _ in range(5)])
        outcomes += v1_lists.evaluate_many([[pdq(2)] for _ in range(3)])
    assert [(o.hits, o.verdict.decision) for o in outcomes] == [([], MatchDecision.NONE)] * 8
    assert skipped("pdq", 2, 1) - before == 16  # 8 hashes, each kept from 2 lists
    events = [e for e in logs if e["event"] == "matcher.version_skipped"]
    assert sorted((e["hash_set"], e["hash_version"], e["list_version"]) for e in events) == [
        ("hotline", 2, 1), ("partner", 2, 1)]


def test_each_version_matches_only_its_own_entries(store: Store) -> None:
    import_entries(store, "mixed", [ListEntry(PDQ, "pdq", "old", version=1)])
    import_entries(store, "newer", [ListEntry(PDQ, "pdq", "new", version=2)])
    matcher = Matcher(store, MatcherSettings())
    matcher.load()
    assert [h.entry_label for h in matcher.match([pdq(1)])] == ["old"]
    assert [h.entry_label for h in matcher.match([pdq(2)])] == ["new"]
    assert matcher.counts() == {"pdq": 2}


def test_versions_survive_a_snapshot(store: Store, tmp_path: Path) -> None:
    import_entries(store, "hotline", [ListEntry(PDQ, "pdq", "old", version=1)])
    settings = MatcherSettings(index_dir=tmp_path / "indexes")
    Matcher(store, settings).load()  # builds and saves
    replica = Matcher(store, settings)
    with every_log() as logs:
        replica.load()
        assert replica.match([pdq(2)]) == []
    assert [e["source"] for e in logs if e["event"] == "matcher.loaded"] == ["snapshot"]
    assert [e["hash_set"] for e in logs if e["event"] == "matcher.version_skipped"] == ["hotline"]
    assert [h.entry_label for h in replica.match([pdq(1)])] == ["old"]


def test_dhash_lists_are_matched_not_skipped(store: Store) -> None:
    import_entries(store, "hotline", parse_hash_list(f"dhash:{DHASH}\n").entries)
    matcher = Matcher(store, MatcherSettings())
    matcher.load()
    near = format(int(DHASH, 16) ^ 0b111, "016x")  # 3 bits away: within dHash's review threshold
    exact, close = matcher.evaluate_many([[HashValue(algorithm="dhash", value=DHASH)],
                                          [HashValue(algorithm="dhash", value=near)]])
    assert (exact.verdict.decision, close.verdict.decision) == (MatchDecision.MATCH, MatchDecision.REVIEW)
    assert close.hits[0].distance == 3


def test_import_records_and_export_writes_each_entrys_version(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Pdq, "version", 2)  # as if PDQ had moved on since the list was made
    text = f"hash,algorithm,version\n{PDQ},pdq,1\n{'a5' * 32},pdq,\n"
    import_entries(store, "hotline", parse_hash_list(text).entries)
    exported = export_entries(store, "hotline")
    assert [(e.value, e.version) for e in exported] == [(PDQ, 1), ("a5" * 32, 2)]
    lines = write_hash_list(exported, "lines")
    assert lines == f"pdq@1:{PDQ}\npdq:{'a5' * 32}\n"
    for fmt in ("lines", "csv", "jsonl"):
        again = parse_hash_list(write_hash_list(exported, fmt), fmt)
        assert [(e.value, e.version) for e in again.entries] == [(PDQ, 1), ("a5" * 32, 2)], fmt

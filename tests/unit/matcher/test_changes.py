"""List changes reach every running matcher replica over the embedded bus, in place and in time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError
from core.messages import Classification, HashSetChange, HashValue, ReviewDecision, Topic, decode
from core.store import Store
from matcher.changes import GROUP_PREFIX, ListFollower, default_replica_id, publish_changes
from matcher.engine import Matcher
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from tests.fixtures.replicas import DEADLINE_S, random_pdq, run_two_replicas, wait_until


def test_an_edit_reaches_both_replicas_within_a_second(store: Store, tmp_path: Path) -> None:
    run = run_two_replicas(lambda: EmbeddedBus(tmp_path / "bus.db"), store, tmp_path)
    assert len(run.added_s) == len(run.removed_s) == 2
    print(f"embedded: added seen after {run.added_s}, removed after {run.removed_s}")
    assert max(run.added_s + run.removed_s) < DEADLINE_S


def test_changes_are_published_keyed_by_set_in_order(store: Store, tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    first = import_entries(store, "s", [ListEntry(random_pdq(1), "pdq")])
    second = import_entries(store, "s", [ListEntry(random_pdq(2), "pdq")])
    publish_changes(bus, first.changes + second.changes)
    publish_changes(bus, [])
    sent = [decode(p) for p in bus.read_topic(str(Topic.HASHSET_CHANGES))]
    assert [(m.hash_set, m.generation) for m in sent if isinstance(m, HashSetChange)] == [("s", 1), ("s", 2)]
    assert first.changes[0].partition_key() == "s"


def test_follower_applies_changes_and_rejects_other_messages(store: Store, tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    matcher = Matcher(store)
    matcher.load()
    follower = ListFollower(bus, matcher, "r1", resync_s=0.05)
    assert follower.group == GROUP_PREFIX + "r1"
    value = random_pdq(3)
    result = import_entries(store, "s", [ListEntry(value, "pdq")])
    follower.handle(result.changes[0])
    assert matcher.match([HashValue(algorithm="pdq", value=value)])
    with pytest.raises(PermanentError):
        follower.handle(ReviewDecision(review_item_id=1, sha256="ab" * 32, classification=Classification.NOT_CSAM,
                                       decided_by="x"))
    with pytest.raises(ValueError):
        ListFollower(bus, matcher, "")


def test_the_safety_resync_catches_an_edit_that_was_never_announced(store: Store, tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    matcher = Matcher(store)
    matcher.load()
    stop = threading.Event()
    threads = ListFollower(bus, matcher, "r1", resync_s=0.05).start(stop)
    try:
        value = random_pdq(4)
        import_entries(store, "quiet", [ListEntry(value, "pdq")])  # committed, never published
        assert wait_until(lambda: bool(matcher.match([HashValue(algorithm="pdq", value=value)])), 10) is not None
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        bus.close()


def test_default_replica_ids_differ_per_matcher() -> None:
    first, second = default_replica_id(), default_replica_id()
    assert first != second
    assert all(c.isalnum() or c in "-_." for c in first)

"""Unit tests for matcher snapshots: a restarted matcher loads its saved indexes only while they are current.

Hashes are made-up hex values of benign test data; the store is a fresh SQLite file per test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.store import Store
from matcher import snapshots
from matcher.engine import Matcher
from matcher.hashsets import import_entries, remove_set, set_enabled
from matcher.lists import ListEntry
from matcher.settings import MatcherSettings, Thresholds
from tests.unit.matcher.test_engine import PDQ, PHASH, flip, md5, pdq

ENTRIES = [ListEntry(md5("known"), "md5", "known file"), ListEntry(PDQ, "pdq", "known picture"),
           ListEntry(PHASH, "phash", "known picture")]


@pytest.fixture
def saved(store: Store, tmp_path: Path) -> tuple[Store, MatcherSettings]:
    """A store with two lists and a snapshot saved by a first matcher's load."""
    import_entries(store, "hotline", ENTRIES)
    import_entries(store, "local", [ListEntry(flip(PDQ, 40), "pdq", "other picture")])
    settings = MatcherSettings(index_dir=tmp_path / "idx")
    Matcher(store, settings).load()
    return store, settings


class Rebuilds:
    """Counts full rebuilds from the store."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = Matcher.reload

        def counting(matcher: Matcher) -> None:
            self.count += 1
            original(matcher)

        monkeypatch.setattr(Matcher, "reload", counting)


@pytest.fixture
def rebuilds(monkeypatch: pytest.MonkeyPatch) -> Rebuilds:
    return Rebuilds(monkeypatch)


def answers(matcher: Matcher) -> list[list[tuple[int, int]]]:
    queries = [[pdq(flip(PDQ, 3))], [pdq(flip(PDQ, 38))], [pdq("00" * 32)]]
    return [sorted((h.entry_id, h.distance) for h in hits) for hits in matcher.match_many(queries)]


def test_a_restarted_matcher_loads_the_snapshot_and_answers_the_same(
    saved: tuple[Store, MatcherSettings], rebuilds: Rebuilds
) -> None:
    store, settings = saved
    built = Matcher(store, MatcherSettings())
    built.load()
    restarted = Matcher(store, settings)
    restarted.load()
    assert rebuilds.count == 1  # only the matcher without a folder built from the store
    assert restarted.counts() == built.counts() and answers(restarted) == answers(built)
    assert restarted.generations() == built.generations()
    # The members came along: dropping a list removes exactly its entries.
    remove_set(store, "local")
    restarted.resync()
    assert answers(restarted)[1] == []
    assert answers(restarted)[0] == answers(built)[0]


@pytest.mark.parametrize("change", ["entry added", "list disabled", "list removed"])
def test_a_list_changed_since_the_snapshot_makes_it_stale(
    saved: tuple[Store, MatcherSettings], rebuilds: Rebuilds, change: str
) -> None:
    store, settings = saved
    if change == "entry added":
        import_entries(store, "local", [ListEntry("00" * 32, "pdq", "new")])
    elif change == "list disabled":
        set_enabled(store, "local", False)
    else:
        remove_set(store, "local")
    restarted = Matcher(store, settings)
    restarted.load()
    assert rebuilds.count == 1
    expected = Matcher(store, MatcherSettings())
    expected.load()
    assert answers(restarted) == answers(expected)


@pytest.mark.parametrize("other", [
    MatcherSettings(index="faiss-flat"),
    MatcherSettings(thresholds={"pdq": Thresholds(match=10, review=20)}),
])
def test_other_index_settings_make_the_snapshot_stale(
    saved: tuple[Store, MatcherSettings], rebuilds: Rebuilds, other: MatcherSettings
) -> None:
    store, settings = saved
    restarted = Matcher(store, other.model_copy(update={"index_dir": settings.index_dir}))
    restarted.load()
    assert rebuilds.count == 1


def test_a_scoped_matcher_does_not_use_a_snapshot_of_every_list(
    saved: tuple[Store, MatcherSettings], rebuilds: Rebuilds
) -> None:
    store, settings = saved
    scoped = Matcher(store, settings, sets=["hotline"])
    scoped.load()
    assert rebuilds.count == 1
    assert answers(scoped)[1] == []  # the "local" list is not in its scope


@pytest.mark.parametrize("damage", ["sidecar", "members", "manifest"])
def test_a_damaged_snapshot_is_rebuilt_from_the_store(
    saved: tuple[Store, MatcherSettings], rebuilds: Rebuilds, damage: str
) -> None:
    store, settings = saved
    assert settings.index_dir is not None
    manifest = json.loads((settings.index_dir / snapshots.MANIFEST).read_text())
    folder = settings.index_dir / manifest["folder"]
    if damage == "sidecar":
        next((folder / "pdq@1").glob("*.json")).write_text("{not json")
    elif damage == "members":
        for file in (folder / "members").iterdir():
            file.write_bytes(b"\x93NUMPY garbage")
    else:
        (settings.index_dir / snapshots.MANIFEST).write_text("[1, 2")
    restarted = Matcher(store, settings)
    restarted.load()
    assert rebuilds.count == 1
    assert answers(restarted)[0] and answers(restarted)[1]


def test_each_reload_replaces_the_snapshot_and_removes_the_old_one(
    saved: tuple[Store, MatcherSettings], rebuilds: Rebuilds
) -> None:
    store, settings = saved
    assert settings.index_dir is not None
    before = sorted(p.name for p in settings.index_dir.glob("snapshot-*"))
    import_entries(store, "local", [ListEntry("00" * 32, "pdq", "new")])
    Matcher(store, settings).load()
    after = sorted(p.name for p in settings.index_dir.glob("snapshot-*"))
    assert len(before) == len(after) == 1 and before != after
    manifest = json.loads((settings.index_dir / snapshots.MANIFEST).read_text())
    assert manifest["folder"] == after[0] and manifest["indexes"] == ["md5@1", "pdq@1", "phash@1"]
    restarted = Matcher(store, settings)
    restarted.load()
    assert rebuilds.count == 1  # the new snapshot serves the next start
    assert answers(restarted)[2] == [(answers(restarted)[2][0][0], 0)]
    assert np.all([len(v) for v in restarted._members.values()])

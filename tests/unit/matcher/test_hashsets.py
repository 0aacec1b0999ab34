"""Known hash sets in the store: import idempotence, listing, export, removal, enabling."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.messages import HashSetKind
from core.store import Store
from core.store.tables.matcher import HashEntry, HashSet
from matcher.hashsets import (
    UnknownHashSetError,
    describe_entries,
    enabled_entries,
    export_entries,
    import_entries,
    iter_code_rows,
    list_sets,
    remove_entries,
    remove_set,
    set_enabled,
    set_generations,
)
from matcher.lists import ListEntry, iter_hash_list, parse_hash_list, write_hash_list


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


PDQ = "0f" * 32


def test_import_creates_the_set_and_is_idempotent(store: Store) -> None:
    entries = [
        ListEntry(md5("a"), "md5", "A", "baseline_csam"),
        ListEntry(md5("b"), "md5"),
        ListEntry(PDQ, "pdq", "P"),
        ListEntry(md5("a"), "md5", "A again"),  # repeated in the same input
    ]
    first = import_entries(store, "hotline-1", entries, source="https://example.org/list")
    assert (first.added, first.duplicates) == (3, 1)
    assert len(first.added_ids) == 3
    second = import_entries(store, "hotline-1", entries)
    assert (second.added, second.duplicates, second.added_ids) == (0, 4, [])
    with store.session() as s:
        assert s.execute(select(HashEntry.id).order_by(HashEntry.id)).scalars().all() == first.added_ids
        assert s.execute(select(HashSet.source)).scalar_one() == "https://example.org/list"


def test_same_value_in_two_sets_or_two_algorithms_is_kept(store: Store) -> None:
    import_entries(store, "one", [ListEntry(PDQ, "pdq")])
    assert import_entries(store, "two", [ListEntry(PDQ, "pdq")]).added == 1
    assert import_entries(store, "one", [ListEntry(PDQ, "sha256")]).added == 1


def test_list_sets_counts_per_algorithm(store: Store) -> None:
    import_entries(store, "b-set", [ListEntry(md5("x"), "md5"), ListEntry(PDQ, "pdq")])
    import_entries(store, "a-set", [ListEntry(md5(str(i)), "md5") for i in range(5)], source="s")
    set_enabled(store, "b-set", False)
    summary = list_sets(store)
    assert [(s.name, s.source, s.enabled, s.counts) for s in summary] == [
        ("a-set", "s", True, {"md5": 5}),
        ("b-set", None, False, {"md5": 1, "pdq": 1}),
    ]
    assert summary[0].created_at.tzinfo is not None


def test_export_round_trips_through_a_list_file(store: Store) -> None:
    entries = [
        ListEntry(md5("x"), "md5", "label", "not_csam", "src"),
        ListEntry(PDQ, "pdq", None, None, None),
    ]
    import_entries(store, "s", entries)
    exported = export_entries(store, "s")
    assert sorted(exported, key=lambda e: e.value) == sorted(entries, key=lambda e: e.value)
    text = write_hash_list(exported, "csv")
    import_entries(store, "copy", parse_hash_list(text).entries)
    assert export_entries(store, "copy") == exported


def test_remove_entries_and_set(store: Store) -> None:
    result = import_entries(store, "s", [ListEntry(md5(str(i)), "md5") for i in range(3)])
    before = next(s for s in list_sets(store)).updated_at
    removed = remove_entries(store, "s", [md5("1").upper(), md5("not there")]).removed_ids
    assert len(removed) == 1 and removed[0] in result.added_ids
    assert {e.value for e in export_entries(store, "s")} == {md5("0"), md5("2")}
    assert next(s for s in list_sets(store)).updated_at > before
    assert remove_entries(store, "s", [md5("not there")]).changes == []  # nothing removed, nothing announced
    assert remove_set(store, "s").removed_ids == sorted(set(result.added_ids) - set(removed))
    assert list_sets(store) == []
    with store.session() as s:
        assert s.execute(select(HashEntry.id)).first() is None


def test_unknown_set_is_reported(store: Store) -> None:
    for call in (
        lambda: export_entries(store, "nope"),
        lambda: remove_set(store, "nope"),
        lambda: remove_entries(store, "nope", [md5("a")]),
        lambda: set_enabled(store, "nope", True),
    ):
        with pytest.raises(UnknownHashSetError, match="nope"):
            call()


def test_enabled_entries_skip_disabled_sets(store: Store) -> None:
    on = import_entries(store, "on", [ListEntry(md5("a"), "md5", "L", "baseline_csam")])
    off = import_entries(store, "off", [ListEntry(md5("b"), "md5")])
    set_enabled(store, "off", False)
    got = enabled_entries(store)
    assert [(e.id, e.hash_set, e.algorithm, e.value, e.label, e.classification) for e in got] == [
        (on.added_ids[0], "on", "md5", md5("a"), "L", "baseline_csam")
    ]
    assert enabled_entries(store, off.added_ids) == []
    assert [e.id for e in enabled_entries(store, on.added_ids + off.added_ids)] == on.added_ids


def test_every_change_bumps_the_generation_and_is_announced(store: Store) -> None:
    first = import_entries(store, "s", [ListEntry(md5("a"), "md5")], source="src")
    assert [(c.hash_set, c.generation, c.added_ids, c.removed_ids, c.reload) for c in first.changes] == [
        ("s", 1, first.added_ids, [], False)
    ]
    assert import_entries(store, "s", [ListEntry(md5("a"), "md5")]).changes == []  # a duplicate changes nothing
    removed = remove_entries(store, "s", [md5("a")])
    assert [(c.generation, c.removed_ids) for c in removed.changes] == [(2, first.added_ids)]
    toggled = set_enabled(store, "s", False)
    assert [(c.generation, c.reload) for c in toggled.changes] == [(3, True)]
    assert set_generations(store) == {"s": (3, False)}
    assert list_sets(store)[0].generation == 3
    deleted = remove_set(store, "s")
    assert [(c.generation, c.reload) for c in deleted.changes] == [(4, True)]
    assert set_generations(store) == {}


def test_describe_and_stream_entries(store: Store) -> None:
    on = import_entries(store, "on", [ListEntry(PDQ, "pdq", "P", "baseline_csam"), ListEntry(md5("m"), "md5")])
    off = import_entries(store, "off", [ListEntry(md5("b"), "md5")])
    set_enabled(store, "off", False)
    info = describe_entries(store, [*on.added_ids, *off.added_ids, 10**9])
    assert info[on.added_ids[0]] == ("on", "P", "baseline_csam", HashSetKind.KNOWN, "", None)
    assert set(info) == {*on.added_ids, *off.added_ids}
    rows = [r for batch in iter_code_rows(store, batch=1) for r in batch]
    assert sorted(r.id for r in rows) == on.added_ids
    every = [r for batch in iter_code_rows(store, enabled_only=False) for r in batch]
    assert len(every) == 3
    assert [r.hash_set for b in iter_code_rows(store, sets=["off"], enabled_only=False) for r in b] == ["off"]
    assert [r.value for b in iter_code_rows(store, ids=on.added_ids[:1]) for r in b] == [PDQ]


def _lines(count: int, salt: str) -> Iterator[str]:
    """A plain-lines list generated as it is read (never whole in memory)."""
    for i in range(count):
        yield hashlib.md5(f"{salt} {i}".encode()).hexdigest() + "\n"


def _import_peak(store: Store, count: int, salt: str) -> int:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    entries = (e for e in iter_hash_list(_lines(count, salt)) if isinstance(e, ListEntry))
    result = import_entries(store, salt, entries)
    assert (result.added, result.duplicates) == (count, 0)
    return tracemalloc.get_traced_memory()[1] - base


def test_import_memory_does_not_grow_with_the_list(store: Store) -> None:
    # Python allocations only (tracemalloc): what the import itself holds. Reading the whole list
    # and its rows as the import did before took about 650 bytes a line, 65 MB for 100k lines; a
    # streamed import keeps one batch and the new ids (8 bytes and an int object each).
    tracemalloc.start()
    try:
        small = _import_peak(store, 10_000, "small")
        large = _import_peak(store, 100_000, "large")
    finally:
        tracemalloc.stop()
    assert large - small < 16 * 1024 * 1024, (small, large)


def test_a_large_import_is_announced_as_one_reload(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import matcher.hashsets

    monkeypatch.setattr(matcher.hashsets, "ANNOUNCED_IDS_MAX", 10)
    entries = (e for e in iter_hash_list(_lines(25, "many")) if isinstance(e, ListEntry))
    result = import_entries(store, "many", entries)
    assert (result.added, result.added_ids) == (25, [])
    assert [(c.generation, c.added_ids, c.reload) for c in result.changes] == [(1, [], True)]
    again = import_entries(store, "many", (e for e in iter_hash_list(_lines(30, "many")) if isinstance(e, ListEntry)))
    assert (again.added, again.duplicates) == (5, 25)

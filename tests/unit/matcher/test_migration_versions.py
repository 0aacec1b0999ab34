"""Migration 0008 gives every stored list entry the version of its algorithm, and matching reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from core.messages import HashValue
from core.store import Store
from matcher.engine import Matcher
from matcher.settings import MatcherSettings
from tests.fixtures.migrations import upgrade_to

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PDQ = "5a" * 32


def test_entries_stored_before_0008_are_version_1_and_still_match(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade_to(store, "0007_sighting_headers")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO hash_sets (id, name, enabled, generation, created_at, updated_at) "
                          "VALUES (1, 'hotline', 1, 1, :t, :t)"), {"t": T})
        for n, (algorithm, value) in enumerate((("pdq", PDQ), ("md5", "ab" * 16), ("retired", "ab")), start=1):
            conn.execute(text("INSERT INTO hash_entries (id, hash_set_id, algorithm, value, added_at) "
                              "VALUES (:n, 1, :a, :v, :t)"), {"n": n, "a": algorithm, "v": value, "t": T})
    store.migrate()
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT algorithm, version FROM hash_entries ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("pdq", 1), ("md5", 1), ("retired", 1)]
    matcher = Matcher(store, MatcherSettings())
    matcher.load()
    assert [h.entry_id for h in matcher.match([HashValue(algorithm="pdq", version=1, value=PDQ)])] == [1]
    assert matcher.match([HashValue(algorithm="pdq", version=2, value=PDQ)]) == []
    store.dispose()

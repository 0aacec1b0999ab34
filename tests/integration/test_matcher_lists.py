"""List changes reach every running matcher replica over Kafka (a real tansu broker), within a second."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from core.bus import open_bus
from core.store import Store
from tests.fixtures.replicas import DEADLINE_S, run_two_replicas

pytestmark = pytest.mark.integration


def test_an_edit_reaches_both_replicas_within_a_second_over_kafka(kafka_url: str, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    # A topic prefix of its own: the session broker is shared with other tests.
    url = f"{kafka_url}&topic_prefix=lists-{uuid.uuid4().hex[:8]}."
    try:
        run = run_two_replicas(lambda: open_bus(url, client_id="lists-test"), store, tmp_path)
    finally:
        store.dispose()
    print(f"kafka: added seen after {run.added_s}, removed after {run.removed_s}")
    assert max(run.added_s + run.removed_s) < DEADLINE_S


def test_list_generations_and_matching_on_postgresql(fresh_postgres_url: str) -> None:
    """The generation bump (UPDATE ... RETURNING), streamed loading and hit descriptions on PostgreSQL."""
    from core.messages import HashValue
    from matcher.engine import Matcher
    from matcher.hashsets import import_entries, remove_entries, set_generations
    from matcher.lists import ListEntry
    from tests.fixtures.replicas import random_pdq

    store = Store(fresh_postgres_url)
    store.migrate()
    try:
        values = [random_pdq(i) for i in range(5)]
        first = import_entries(store, "pg", [ListEntry(v, "pdq", f"item-{i}") for i, v in enumerate(values)])
        matcher = Matcher(store)
        matcher.load()
        removed = remove_entries(store, "pg", values[:1])
        assert [c.generation for c in first.changes + removed.changes] == [1, 2]
        assert set_generations(store) == {"pg": (2, True)}
        assert matcher.apply_change(removed.changes[0]) == "applied"
        hits = matcher.match([HashValue(algorithm="pdq", value=v) for v in values])
        assert sorted(h.entry_label or "" for h in hits) == [f"item-{i}" for i in range(1, 5)]
    finally:
        store.dispose()

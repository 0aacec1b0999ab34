"""The relational store on SQLite: migrations build exactly the models' schema, keys stay unique.

The ``check_*`` functions take any migrated :class:`Store`; the PostgreSQL integration test
runs the very same checks against a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from core.errors import ConfigError
from core.store import MIGRATIONS, Store
from core.store.base import Base
from core.store.tables.crawler import Campaign, Sighting
from core.store.tables.matcher import HashEntry, HashSet, Match
from core.store.tables.review import ReviewItem

FETCHED = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def schema_differences(store: Store, metadata: MetaData = Base.metadata) -> list[Any]:
    """What alembic autogenerate would write to bring the database to ``metadata``."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, metadata))


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def schema_snapshot(store: Store) -> dict[str, list[tuple[str, str, bool]]]:
    insp = inspect(store.engine)
    return {
        table: sorted((c["name"], str(c["type"]), bool(c["nullable"])) for c in insp.get_columns(table))
        for table in sorted(insp.get_table_names())
    }


def sighting(message_id: str) -> Sighting:
    return Sighting(
        message_id=message_id,
        campaign_id="c1",
        page_url="http://example.test/",
        media_url="http://example.test/a.jpg",
        final_url="http://example.test/a.jpg",
        fetched_at=FETCHED,
    )


def review_item(sha: str) -> ReviewItem:
    return ReviewItem(sha256=sha, best_algorithm="pdq", best_distance=3)


def check_schema_matches_models(store: Store) -> None:
    assert schema_differences(store) == []
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert tables - set(Base.metadata.tables) == {"alembic_version"}


def check_drift_is_detected(store: Store) -> None:
    """The schema check can fail: a model edited without a migration shows up as a difference."""
    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["sightings"].append_column(Column("referrer", String(200), nullable=True))
    drifted.tables["media"].c.pdq.type = String(128)
    kinds = {diff[0] if isinstance(diff, tuple) else diff[0][0] for diff in schema_differences(store, drifted)}
    assert "add_column" in kinds
    assert "modify_type" in kinds


def check_unique_keys(store: Store) -> None:
    with store.session() as s:
        s.add(sighting("m-1"))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(sighting("m-1"))

    with store.session() as s:
        hash_set = HashSet(name="benign-generated")
        s.add(hash_set)
        s.flush()
        entry = HashEntry(hash_set_id=hash_set.id, algorithm="pdq", value="f" * 64)
        s.add(entry)
        s.flush()
        entry_id = entry.id
        s.add(Match(sha256="a" * 64, hash_entry_id=entry_id, algorithm="pdq", distance=4))
    # Same media and entry under another algorithm is a different match.
    with store.session() as s:
        s.add(Match(sha256="a" * 64, hash_entry_id=entry_id, algorithm="md5", distance=0))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(Match(sha256="a" * 64, hash_entry_id=entry_id, algorithm="pdq", distance=9))

    with store.session() as s:
        s.add(review_item("b" * 64))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(review_item("b" * 64))

    # The failed inserts were rolled back and left the first rows alone.
    with store.session() as s:
        assert s.scalar(select(Sighting.message_id)) == "m-1"
        assert len(s.scalars(select(Match)).all()) == 2
        assert len(s.scalars(select(ReviewItem)).all()) == 1


def check_utc_round_trip(store: Store) -> None:
    berlin = timezone(timedelta(hours=2))
    started = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=berlin)
    with store.session() as s:
        s.add(Campaign(id="utc", name="utc", started_at=started))
    with store.session() as s:
        row = s.get(Campaign, "utc")
        assert row is not None
        assert row.started_at is not None
        assert row.started_at.utcoffset() == timedelta(0)
        assert row.started_at == started
        assert row.started_at.replace(tzinfo=None) == datetime(2024, 1, 2, 1, 4, 5, 678901)
        # Defaults are tz-aware too.
        assert row.created_at.utcoffset() == timedelta(0)
        assert row.finished_at is None
    with pytest.raises(StatementError, match="naive"), store.session() as s:
        s.add(Campaign(id="naive", name="naive", started_at=datetime(2024, 1, 2)))


def check_migrate_twice_is_noop(store: Store) -> None:
    with store.session() as s:
        s.add(Campaign(id="keep", name="kept across migrate"))
    before = schema_snapshot(store)
    store.migrate()
    assert schema_snapshot(store) == before
    with store.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert versions == [head_revision()]
    with store.session() as s:
        assert s.get(Campaign, "keep") is not None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    # A folder that does not exist yet: Store creates it for SQLite.
    db = Store(f"sqlite:///{tmp_path / 'sub' / 'orbweaver.sqlite3'}")
    db.migrate()
    yield db
    db.dispose()


def test_migrate_creates_schema_matching_models(store: Store) -> None:
    check_schema_matches_models(store)


def test_schema_check_detects_model_drift(store: Store) -> None:
    check_drift_is_detected(store)


def test_unique_keys_reject_duplicates(store: Store) -> None:
    check_unique_keys(store)


def test_utc_datetimes_round_trip_tz_aware(store: Store) -> None:
    check_utc_round_trip(store)


def test_migrate_twice_is_noop(store: Store) -> None:
    check_migrate_twice_is_noop(store)


def test_unmigrated_database_differs_from_models(tmp_path: Path) -> None:
    bare = Store(f"sqlite:///{tmp_path / 'bare.sqlite3'}")
    try:
        assert any(diff[0] == "add_table" for diff in schema_differences(bare))
    finally:
        bare.dispose()


def test_unsupported_url_is_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported store URL"):
        Store("mysql://x/y")

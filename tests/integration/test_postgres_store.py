"""The relational store on a real PostgreSQL server: the same checks as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from core.store import Store
from tests.unit.core.test_insert_ignore import check_insert_ignore_many
from tests.unit.core.test_store import (
    check_drift_is_detected,
    check_migrate_twice_is_noop,
    check_schema_matches_models,
    check_unique_keys,
    check_utc_round_trip,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def store(fresh_postgres_url: str) -> Iterator[Store]:
    db = Store(fresh_postgres_url)
    db.migrate()
    yield db
    db.dispose()


def test_runs_on_postgresql(store: Store) -> None:
    assert store.engine.dialect.name == "postgresql"
    with store.engine.connect() as conn:
        assert conn.execute(text("SHOW TimeZone")).scalar() is not None
        # UTCDateTime must map to timestamptz, so instants survive any session time zone.
        column_type = conn.execute(
            text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'sightings' AND column_name = 'fetched_at'"
            )
        ).scalar()
    assert column_type == "timestamp with time zone"


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


def test_session_database_url_is_usable(postgres_url: str) -> None:
    db = Store(postgres_url)
    try:
        db.migrate()
        check_schema_matches_models(db)
    finally:
        db.dispose()


def test_utc_round_trip_in_a_non_utc_session(fresh_postgres_url: str) -> None:
    # A server or role configured for another zone must not shift stored instants.
    db = Store(fresh_postgres_url + "?options=-c%20TimeZone%3DPacific%2FAuckland")
    try:
        db.migrate()
        with db.engine.connect() as conn:
            assert conn.execute(text("SHOW TimeZone")).scalar() == "Pacific/Auckland"
        check_utc_round_trip(db)
    finally:
        db.dispose()


def test_insert_ignore_many_on_postgresql(store: Store) -> None:
    check_insert_ignore_many(store)

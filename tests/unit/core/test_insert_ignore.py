from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from core.messages import new_id, utcnow
from core.store import Store, insert_ignore, insert_ignore_many
from core.store.tables.crawler import Sighting


def test_insert_ignore_reports_whether_it_inserted(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    row = {"message_id": new_id(), "campaign_id": "c", "page_url": "p", "media_url": "m", "final_url": "m",
           "fetched_at": utcnow()}
    with store.session() as s:
        assert insert_ignore(s, Sighting, row, ["message_id"]) is True
        assert insert_ignore(s, Sighting, row, ["message_id"]) is False
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Sighting)) == 1
    store.dispose()


def check_insert_ignore_many(store: Store) -> None:
    """Many rows per statement; existing and repeated keys skipped; values converted as the ORM would."""
    at = datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    def row(i: int) -> dict[str, Any]:
        return {"message_id": f"m{i}", "campaign_id": "c", "page_url": "p", "media_url": f"u{i}", "final_url": "f",
                "fetched_at": at, "headers": {"n": i}}

    with store.session() as s:
        first = insert_ignore_many(s, Sighting, [row(i) for i in range(10)], ["message_id"])
    assert len(first) == 10
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT"):
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        with store.session() as s:
            new = insert_ignore_many(s, Sighting, [row(i) for i in range(5000)] + [row(7), row(4999)], ["message_id"])
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert len(new) == len(set(new)) == 4990 and not set(new) & set(first)
    assert len(statements) == 3  # 5002 rows, 2000 a statement: not one statement per row
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Sighting)) == 5000
        got = s.scalars(select(Sighting).where(Sighting.message_id == "m4321")).one()
        assert got.id in new and got.headers == {"n": 4321}
        assert got.fetched_at == at and got.fetched_at.utcoffset() == timedelta(0)


def test_insert_ignore_many_inserts_many_rows_a_statement(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    check_insert_ignore_many(store)
    store.dispose()

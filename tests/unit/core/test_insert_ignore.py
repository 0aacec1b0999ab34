from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from core.messages import new_id, utcnow
from core.store import Store, insert_ignore
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

"""Shared pieces of the notifier tests: a movable clock, a migrated store, confirmed sightings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.messages import Classification, MediaRef, NoticeRequest
from core.store import Store
from core.store.tables.review import ReviewItem

SHA = "cd" * 32
PDQ = "f0" * 32


def migrated_store(tmp_path: Path, review_items: int = 3) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    with store.session() as s:
        for n in range(1, review_items + 1):
            s.add(ReviewItem(id=n, sha256=f"{n:02x}" * 32, status="confirmed", classification="baseline_csam",
                             best_algorithm="pdq", best_distance=3))
    return store


def confirmed(url: str, *, ip: str | None = "203.0.113.9", review_item: int = 1, headers: dict[str, str] | None = None,
              seen: datetime | None = None) -> NoticeRequest:
    t = seen or datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    return NoticeRequest(
        review_item_id=review_item, sha256=f"{review_item:02x}" * 32, pdq=PDQ,
        classification=Classification.BASELINE_CSAM,
        ref=MediaRef(campaign_id="c", page_url="http://site.test/page", media_url=url, final_url=url,
                     resolved_ip=ip, fetched_at=t),
        first_seen=t, last_seen=t, response_headers=headers or {},
    )

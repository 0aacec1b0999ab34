"""The hashing stage records the crawler's selected response headers with each sighting (CDN evidence)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.messages import FetchedMedia, MediaRef, sha256_hex
from core.store import Store
from core.store.tables.crawler import Sighting
from hashing.settings import HashingSettings
from hashing.stage import HashingStage
from tests.fixtures.images import jpeg_bytes


def fetched(message_id: str, headers: dict[str, str]) -> FetchedMedia:
    body = jpeg_bytes(3)
    url = "http://cdn.site.test/a.jpg"
    return FetchedMedia(
        message_id=message_id,
        ref=MediaRef(campaign_id="c", page_url="http://site.test/", media_url=url, final_url=url,
                     resolved_ip="203.0.113.5", fetched_at=datetime(2026, 1, 1, tzinfo=UTC)),
        http_status=200, headers=headers, content_type="image/jpeg", size=len(body), sha256=sha256_hex(body),
        body=body,
    )


def test_sighting_keeps_the_headers_the_crawler_sent(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    stage = HashingStage(EmbeddedBus(tmp_path / "bus.db"), store, LocalBlobStore(tmp_path / "blobs"),
                         HashingSettings())
    cdn = {"server": "cloudflare", "cf-ray": "8a1b2c3d4e5f-AMS", "cf-cache-status": "HIT"}
    stage.handle(fetched("m1", cdn))
    stage.handle(fetched("m2", {}))
    with store.session() as s:
        rows = {m: h for m, h in s.execute(select(Sighting.message_id, Sighting.headers)).all()}
    assert rows == {"m1": cdn, "m2": {}}
    store.dispose()

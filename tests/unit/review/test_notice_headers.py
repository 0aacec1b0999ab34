"""Review fills each NoticeRequest's response headers from the latest recorded sighting of that media URL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from core.bus.embedded import EmbeddedBus
from core.messages import HashValue, MatchCandidate, MatchHit, MediaRef, NoticeRequest, Topic, decode
from core.store import MIGRATIONS, Store
from core.store.tables.crawler import Sighting
from review.settings import ReviewSettings
from review.stage import ReviewStage

SHA = "ab" * 32
CDN = {"server": "cloudflare", "cf-ray": "8a1b2c3d4e5f-AMS"}


def ref(url: str, minute: int) -> MediaRef:
    return MediaRef(campaign_id="c", page_url="http://h.test/p", media_url=url, final_url=url,
                    resolved_ip="203.0.113.5", fetched_at=datetime(2026, 1, 1, 0, minute, tzinfo=UTC))


def sighting(store: Store, r: MediaRef, message_id: str, headers: dict[str, str] | None) -> None:
    with store.session() as s:
        s.add(Sighting(message_id=message_id, campaign_id="c", sha256=SHA, page_url=r.page_url, media_url=r.media_url,
                       final_url=r.final_url, resolved_ip=r.resolved_ip, fetched_at=r.fetched_at, headers=headers))


def candidate(r: MediaRef) -> MatchCandidate:
    return MatchCandidate(
        ref=r, sha256=SHA, hashes=[HashValue(algorithm="pdq", value="0" * 64)],
        hits=[MatchHit(algorithm="pdq", distance=2, hash_set="known", entry_id=1, entry_label="k1",
                       classification="baseline_csam", query_hash="0" * 64)],
        decision="match",
    )


def requests(bus: EmbeddedBus) -> dict[str, dict[str, str]]:
    out = {}
    for payload in bus.read_topic(str(Topic.NOTICE_REQUESTS)):
        message = decode(payload)
        assert isinstance(message, NoticeRequest)
        out[message.ref.media_url] = message.response_headers
    return out


def test_each_request_carries_its_urls_latest_headers(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    bus = EmbeddedBus(tmp_path / "bus.db")
    a, b = "http://h.test/a.jpg", "http://h.test/b.jpg"
    sighting(store, ref(a, 0), "a0", {"server": "nginx"})
    sighting(store, ref(a, 5), "a5", CDN)  # the site moved behind a CDN: the latest answer counts
    sighting(store, ref(a, 9), "a9", None)  # recorded before migration 0007: says nothing
    sighting(store, ref(b, 1), "b1", None)
    ReviewStage(bus, store, ReviewSettings()).handle(candidate(ref(a, 9)))
    assert requests(bus) == {a: CDN, b: {}}

    # A new sighting of already-confirmed media is announced on its own, with its own headers.
    c = "http://other.test/c.jpg"
    sighting(store, ref(c, 20), "c20", {"via": "1.1 varnish", "x-cache": "HIT"})
    ReviewStage(bus, store, ReviewSettings()).handle(candidate(ref(c, 20)))
    assert requests(bus)[c] == {"via": "1.1 varnish", "x-cache": "HIT"}
    store.dispose()


def test_migration_0007_keeps_old_sightings_with_no_headers(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006_portal")
        conn.execute(text("INSERT INTO sightings (message_id, campaign_id, sha256, page_url, media_url, final_url, "
                          "fetched_at) VALUES ('old', 'c', :sha, 'http://h.test/', 'http://h.test/a.jpg', "
                          "'http://h.test/a.jpg', '2026-01-01 00:00:00.000000')"), {"sha": SHA})
    store.migrate()
    with store.session() as s:
        old = s.query(Sighting).one()
        assert (old.message_id, old.headers) == ("old", None)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006_portal")
        assert "headers" not in {c[1] for c in conn.execute(text("PRAGMA table_info(sightings)")).all()}
        assert conn.execute(text("SELECT message_id FROM sightings")).scalar_one() == "old"
    store.dispose()

"""Unit tests for the hashing stage handler: own hashes in the media row, variants on the bus, hash once per SHA-256.

Real embedded bus, SQLite store and local blob store in a temporary folder; the media are
generated photos (``synthetic.photo``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import pytest
from sqlalchemy import select

import hashing.stage
from core.blobs import LocalBlobStore, staging_key
from core.bus.embedded import EmbeddedBus
from core.errors import TransientError
from core.messages import FetchedMedia, HashedMedia, MediaRef, Topic, dead_letter_topic, decode, sha256_hex
from core.store import Store
from core.store.tables.crawler import Sighting
from core.store.tables.hashing import Media
from hashing.hasher import HashOutcome
from hashing.settings import HashingSettings
from hashing.stage import SPEC, HashingStage
from tests.fixtures.counting import CountingStore
from tests.unit.hashing.synthetic import encode, photo

BODY = encode(photo(8, (400, 300)), "JPEG", quality=90)


def fetched(url: str, body: bytes = BODY) -> FetchedMedia:
    ref = MediaRef(campaign_id="c", page_url="http://h.test/", media_url=url, final_url=url,
                   fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    return FetchedMedia(ref=ref, http_status=200, content_type="image/jpeg", size=len(body),
                        sha256=sha256_hex(body), body=body)


@pytest.fixture
def stage(tmp_path: Path) -> HashingStage:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    return HashingStage(EmbeddedBus(tmp_path / "bus.db"), store, LocalBlobStore(tmp_path / "blobs"),
                        HashingSettings(cache_size=2))


def hashed(stage: HashingStage) -> list[HashedMedia]:
    assert isinstance(stage.bus, EmbeddedBus)
    return [m for m in map(decode, stage.bus.read_topic(str(Topic.MEDIA_HASHED))) if isinstance(m, HashedMedia)]


def test_media_row_holds_the_plain_hashes_and_the_bus_gets_the_variants(stage: HashingStage) -> None:
    stage.handle(fetched("http://h.test/a.jpg"))
    [message] = hashed(stage)
    plain = {h.algorithm: h for h in message.hashes if not h.variant}
    assert set(plain) == {"md5", "sha1", "sha256", "pdq", "phash"}
    assert any(h.variant.startswith("pdq-dihedral:") for h in message.hashes)
    with stage.store.session() as s:
        row = s.execute(select(Media)).scalar_one()
        # the columns are the image's own hashes, never a rotation's
        assert row.pdq == plain["pdq"].value and row.phash == plain["phash"].value
        assert len(row.hashes) == len(message.hashes)


@pytest.fixture
def calls(stage: HashingStage, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the bodies the stage's decoding process is asked to hash, in order."""
    sizes: list[int] = []
    real = stage._pool.hash

    def counting(data: bytes) -> HashOutcome:
        sizes.append(len(data))
        return real(data)

    monkeypatch.setattr(stage._pool, "hash", counting)
    return sizes


def test_each_distinct_sha256_is_hashed_once(stage: HashingStage, calls: list[int]) -> None:
    other = encode(photo(9, (300, 200)), "PNG")
    for url in ("http://h.test/a.jpg", "http://h.test/b.jpg", "http://h.test/c.jpg"):
        stage.handle(fetched(url))
    stage.handle(fetched("http://h.test/o.png", other))
    assert calls == [len(BODY), len(other)]
    messages = hashed(stage)
    assert len(messages) == 4
    assert messages[0].hashes == messages[1].hashes == messages[2].hashes
    # evicted from the two-entry cache or not, the same bytes come back with the same hashes
    stage._recent.clear()
    stage.handle(fetched("http://h.test/d.jpg"))
    assert calls == [len(BODY), len(other)]
    assert hashed(stage)[-1].hashes == messages[0].hashes


def test_a_batch_hashes_new_bytes_once_and_dead_letters_only_its_poison_message(
    stage: HashingStage, calls: list[int]
) -> None:
    altered = fetched("http://h.test/bad.jpg").model_copy(update={"body": BODY[:-1] + b"\x00"})
    batch = [fetched("http://h.test/a.jpg"), altered, fetched("http://h.test/b.jpg")]
    stage.bus.publish_many(batch)
    stats = stage.bus.consume(Topic.MEDIA_FETCHED, SPEC.group, stage.handle, batch_handler=stage.handle_batch,
                              max_messages=3, defer_flush=SPEC.defer_flush)
    assert (stats.handled, stats.dead_lettered) == (2, 1)
    assert isinstance(stage.bus, EmbeddedBus)
    [letter] = [msgpack.unpackb(p) for p in stage.bus.read_topic(dead_letter_topic(Topic.MEDIA_FETCHED))]
    assert decode(letter["payload"]).message_id == altered.message_id
    assert letter["reason"] == "media body does not match its announced SHA-256"
    assert sorted(m.ref.media_url for m in hashed(stage)) == ["http://h.test/a.jpg", "http://h.test/b.jpg"]
    with stage.store.session() as s:
        assert s.execute(select(Media.sha256)).scalars().all() == [sha256_hex(BODY)]
        assert sorted(s.execute(select(Sighting.media_url)).scalars()) == ["http://h.test/a.jpg", "http://h.test/b.jpg"]
    # Every message is checked before any is hashed, so the failed batch hashed nothing; one by one,
    # the second copy of the bytes then comes from the cache.
    assert calls == [len(BODY)]


def test_a_batch_whose_transaction_fails_writes_its_media_rows_when_redone(
    stage: HashingStage, calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # New hashes are remembered only once their row is committed: else the redo would take them from
    # the cache and never write the media row.
    real = hashing.stage._store_sightings
    failures = [TransientError("store locked")]

    def flaky(*args: Any, **kwargs: Any) -> None:
        if failures:
            raise failures.pop()
        real(*args, **kwargs)

    monkeypatch.setattr(hashing.stage, "_store_sightings", flaky)
    stage.bus.publish(fetched("http://h.test/a.jpg"))
    stats = stage.bus.consume(Topic.MEDIA_FETCHED, SPEC.group, stage.handle, batch_handler=stage.handle_batch,
                              max_messages=1, defer_flush=SPEC.defer_flush)
    assert (stats.handled, stats.dead_lettered) == (1, 0)
    with stage.store.session() as s:
        assert s.execute(select(Media.sha256)).scalars().all() == [sha256_hex(BODY)]
        assert s.execute(select(Sighting.media_url)).scalars().all() == ["http://h.test/a.jpg"]
    assert calls == [len(BODY), len(BODY)]  # hashed in the failed batch, and again when redone


def test_bytes_cross_the_bus_once_the_hashed_message_carries_only_the_staged_key(stage: HashingStage) -> None:
    inline = fetched("http://h.test/a.jpg")
    stage.blobs.put(staging_key("crawler-staged"), BODY)  # as the crawler stages a large body
    staged = fetched("http://h.test/b.jpg").model_copy(update={"body": None, "blob_key": staging_key("crawler-staged")})
    stage.handle_batch([inline, staged])
    assert isinstance(stage.bus, EmbeddedBus)
    wire = [msgpack.unpackb(p, timestamp=3) for p in stage.bus.read_topic(str(Topic.MEDIA_HASHED))]
    assert all("body" not in m["d"] and m["v"] == 2 for m in wire)  # no bytes on media.hashed
    assert [m.blob_key for m in hashed(stage)] == [staging_key(inline.message_id), staging_key("crawler-staged")]
    assert stage.blobs.get(staging_key(inline.message_id)) == BODY


def test_a_batch_reads_and_writes_the_store_once_each(stage: HashingStage, monkeypatch: pytest.MonkeyPatch) -> None:
    others = [encode(photo(20 + i, (200, 150)), "JPEG", quality=85) for i in range(3)]
    stage.handle_batch([fetched("http://h.test/a.jpg")])
    stage._recent.clear()  # known to the store only: read back in the batch's one lookup
    counting = CountingStore(stage.store)
    monkeypatch.setattr(stage, "store", counting)
    batch = [fetched("http://h.test/again.jpg")] + [fetched(f"http://h.test/{i}.jpg", b) for i, b in enumerate(others)]
    stage.handle_batch(batch)
    assert counting.opened == 2
    assert len(hashed(stage)) == 5
    with counting.store.session() as s:
        assert len(s.execute(select(Media.sha256)).scalars().all()) == 4
        assert len(s.execute(select(Sighting.id)).scalars().all()) == 5


def test_a_later_sighting_moves_the_media_last_seen_time(stage: HashingStage) -> None:
    first = fetched("http://h.test/a.jpg")
    later = first.ref.fetched_at.replace(year=2027)
    moved = first.ref.model_copy(update={"fetched_at": later})
    again = fetched("http://h.test/b.jpg").model_copy(update={"ref": moved})
    stage.handle_batch([first])
    stage.handle_batch([again, fetched("http://h.test/c.jpg")])  # an older sighting in the batch does not win
    with stage.store.session() as s:
        row = s.execute(select(Media)).scalar_one()
        assert row.last_seen.replace(tzinfo=UTC) == later

"""The matching stage: drops non-matching media, records hits with their variants, passes the decision on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgpack
import pytest
from sqlalchemy import select

from core.blobs import BlobStore, LocalBlobStore, evidence_key, staging_key, triage_key
from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError
from core.messages import (
    FetchedMedia,
    FetchOrigin,
    HashedMedia,
    HashValue,
    MatchCandidate,
    MediaRef,
    Topic,
    dead_letter_topic,
    decode,
    sha256_hex,
)
from core.store import Store
from core.store.tables.matcher import Match
from hashing.settings import HashingSettings
from hashing.stage import HashingStage
from matcher.engine import Matcher
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from matcher.stage import SPEC, MatchingStage
from tests.fixtures.counting import CountingStore
from tests.fixtures.replicas import random_pdq

KNOWN = random_pdq(10)


def flip(hex_value: str, n_bits: int) -> str:
    raw = bytearray(bytes.fromhex(hex_value))
    for i in range(n_bits):
        raw[i // 8] ^= 1 << (i % 8)
    return raw.hex()


@pytest.fixture
def stage(store: Store, tmp_path: Path) -> MatchingStage:
    import_entries(store, "known", [ListEntry(KNOWN, "pdq", "k1", "baseline_csam")])
    return MatchingStage(EmbeddedBus(tmp_path / "bus.db"), store, LocalBlobStore(tmp_path / "blobs"), Matcher(store),
                         replica_id="t")


def media(body: bytes, hashes: list[HashValue], blobs: BlobStore | None = None, message_id: str = "m1",
          origin: FetchOrigin = FetchOrigin.CAMPAIGN) -> HashedMedia:
    """The hashing stage's message for ``body``, its bytes staged in ``blobs`` (left unstaged without)."""
    url = "http://h.test/a.jpg"
    ref = MediaRef(campaign_id="c", page_url="http://h.test/", media_url=url, final_url=url,
                   fetched_at=datetime(2026, 1, 1, tzinfo=UTC), origin=origin)
    if blobs is not None:
        blobs.put(staging_key(message_id), body)
    return HashedMedia(message_id=message_id, ref=ref, sha256=sha256_hex(body), size=len(body), hashes=hashes,
                       blob_key=staging_key(message_id))


def candidates(stage: MatchingStage) -> list[MatchCandidate]:
    assert isinstance(stage.bus, EmbeddedBus)
    return [m for m in map(decode, stage.bus.read_topic(str(Topic.MATCH_CANDIDATES))) if isinstance(m, MatchCandidate)]


def test_media_that_matches_nothing_is_dropped(stage: MatchingStage) -> None:
    body = b"benign bytes"
    assert isinstance(stage.blobs, LocalBlobStore)
    stage.handle(media(body, [HashValue(algorithm="pdq", value=flip(KNOWN, 40))], stage.blobs))
    assert candidates(stage) == []
    assert not stage.blobs.exists(staging_key("m1")) and not stage.blobs.exists(evidence_key(sha256_hex(body)))


def test_a_reported_page_s_unmatched_media_is_kept_for_triage_and_a_campaign_s_is_not(
    stage: MatchingStage, store: Store
) -> None:
    assert isinstance(stage.blobs, LocalBlobStore)
    hashes = [HashValue(algorithm="pdq", value=flip(KNOWN, 40))]
    stage.handle(media(b"campaign bytes", hashes, stage.blobs, "m1", FetchOrigin.CAMPAIGN))
    stage.handle(media(b"reported bytes", hashes, stage.blobs, "m2", FetchOrigin.REPORT))
    [candidate] = candidates(stage)
    sha = sha256_hex(b"reported bytes")
    assert (candidate.sha256, candidate.hits, candidate.decision) == (sha, [], "none")
    assert candidate.ref.origin is FetchOrigin.REPORT and candidate.evidence_key == triage_key(sha)
    assert stage.blobs.get(triage_key(sha)) == b"reported bytes"
    assert not stage.blobs.exists(staging_key("m1")) and not stage.blobs.exists(staging_key("m2"))
    dropped = sha256_hex(b"campaign bytes")
    assert not stage.blobs.exists(triage_key(dropped)) and not stage.blobs.exists(evidence_key(dropped))
    assert not stage.blobs.exists(evidence_key(sha))
    with store.session() as s:
        assert s.scalars(select(Match)).all() == []


@pytest.mark.parametrize(("distance", "decision"), [(3, "match"), (25, "review")])
def test_a_hit_is_recorded_with_its_variant_and_the_decision_travels_on(
    stage: MatchingStage, store: Store, distance: int, decision: str
) -> None:
    body = b"kept as evidence"
    hashes = [
        HashValue(algorithm="pdq", value=flip(KNOWN, 60), quality=90),
        HashValue(algorithm="pdq", value=flip(KNOWN, distance), quality=90, variant="pdq-dihedral:rot90"),
        HashValue(algorithm="pdq", value=KNOWN, quality=20, variant="trimmed"),  # too poor to count
    ]
    stage.handle(media(body, hashes, stage.blobs))
    [sent] = candidates(stage)
    assert sent.decision == decision
    assert [(h.distance, h.variant, h.entry_label) for h in sent.hits] == [(distance, "pdq-dihedral:rot90", "k1")]
    assert sent.evidence_key == evidence_key(sha256_hex(body)) and stage.blobs.exists(sent.evidence_key)
    assert not stage.blobs.exists(staging_key("m1"))  # moved, not copied
    with store.session() as s:
        row = s.scalars(select(Match)).one()
        assert (row.distance, row.variant) == (distance, "pdq-dihedral:rot90")


def test_wrong_message_type_is_permanent(stage: MatchingStage) -> None:
    with pytest.raises(PermanentError):
        stage.handle(MatchCandidate.model_construct())


def numbered(i: int, blobs: BlobStore | None) -> HashedMedia:
    body = f"kept as evidence {i}".encode()
    return media(body, [HashValue(algorithm="pdq", value=flip(KNOWN, 3), quality=90)], blobs, f"m{i}")


def test_a_batch_is_recorded_in_one_store_transaction(
    stage: MatchingStage, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [numbered(i, stage.blobs) for i in range(3)]
    stage.bus.publish_many(batch)
    writes = CountingStore(store)  # the stage's own store use; the matcher reads the lists through its own
    monkeypatch.setattr(stage, "store", writes)
    stats = stage.bus.consume(Topic.MEDIA_HASHED, SPEC.group, stage.handle, batch_handler=stage.handle_batch,
                              max_messages=3, defer_flush=SPEC.defer_flush)
    assert (stats.handled, stats.dead_lettered, stats.batches) == (3, 0, 1)
    assert writes.opened == 1
    assert sorted(c.sha256 for c in candidates(stage)) == sorted(m.sha256 for m in batch)
    with store.session() as s:
        assert len(s.scalars(select(Match)).all()) == 3


def test_a_poison_message_in_a_batch_is_dead_lettered_alone(stage: MatchingStage, store: Store) -> None:
    good = [numbered(0, stage.blobs), numbered(2, stage.blobs)]
    poison = numbered(1, None)  # its staged body was never written: PermanentError
    stage.bus.publish_many([good[0], poison, good[1]])
    stats = stage.bus.consume(Topic.MEDIA_HASHED, SPEC.group, stage.handle, batch_handler=stage.handle_batch,
                              max_messages=3, defer_flush=SPEC.defer_flush)
    assert (stats.handled, stats.dead_lettered) == (2, 1)
    assert isinstance(stage.bus, EmbeddedBus)
    [letter] = [msgpack.unpackb(p) for p in stage.bus.read_topic(dead_letter_topic(Topic.MEDIA_HASHED))]
    assert decode(letter["payload"]).message_id == poison.message_id
    assert sorted(c.sha256 for c in candidates(stage)) == sorted(m.sha256 for m in good)
    assert stage.bus.lag(Topic.MEDIA_HASHED, SPEC.group) == 0


def test_fetched_media_that_matches_nothing_leaves_no_bytes_once_hashed(stage: MatchingStage, tmp_path: Path) -> None:
    body = b"not an image, matches nothing"
    url = "http://h.test/x.bin"
    ref = MediaRef(campaign_id="c", page_url="http://h.test/", media_url=url, final_url=url,
                   fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    hashing = HashingStage(stage.bus, stage.store, stage.blobs, HashingSettings())
    try:
        hashing.handle(FetchedMedia(ref=ref, http_status=200, size=len(body), sha256=sha256_hex(body), body=body))
    finally:
        hashing.close()
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] != []  # staged between the two
    stats = stage.bus.consume(Topic.MEDIA_HASHED, SPEC.group, stage.handle, batch_handler=stage.handle_batch,
                              max_messages=1, defer_flush=SPEC.defer_flush)
    assert (stats.handled, candidates(stage)) == (1, [])
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []

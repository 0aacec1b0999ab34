"""The matching stage: drops non-matching media, records hits with their variants, passes the decision on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.blobs import LocalBlobStore, evidence_key, staging_key
from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError
from core.messages import HashedMedia, HashValue, MatchCandidate, MediaRef, Topic, decode, sha256_hex
from core.store import Store
from core.store.tables.matcher import Match
from matcher.engine import Matcher
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from matcher.stage import MatchingStage
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


def media(body: bytes, hashes: list[HashValue], staged: bool = False) -> HashedMedia:
    url = "http://h.test/a.jpg"
    ref = MediaRef(campaign_id="c", page_url="http://h.test/", media_url=url, final_url=url,
                   fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    payload: dict[str, object] = {"blob_key": staging_key("m1")} if staged else {"body": body}
    return HashedMedia(message_id="m1", ref=ref, sha256=sha256_hex(body), size=len(body), hashes=hashes,
                       **payload)  # type: ignore[arg-type]


def candidates(stage: MatchingStage) -> list[MatchCandidate]:
    assert isinstance(stage.bus, EmbeddedBus)
    return [m for m in map(decode, stage.bus.read_topic(str(Topic.MATCH_CANDIDATES))) if isinstance(m, MatchCandidate)]


def test_media_that_matches_nothing_is_dropped(stage: MatchingStage) -> None:
    body = b"benign bytes"
    assert isinstance(stage.blobs, LocalBlobStore)
    stage.blobs.put(staging_key("m1"), body)
    stage.handle(media(body, [HashValue(algorithm="pdq", value=flip(KNOWN, 40))], staged=True))
    assert candidates(stage) == []
    assert not stage.blobs.exists(staging_key("m1")) and not stage.blobs.exists(evidence_key(sha256_hex(body)))


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
    stage.handle(media(body, hashes))
    [sent] = candidates(stage)
    assert sent.decision == decision
    assert [(h.distance, h.variant, h.entry_label) for h in sent.hits] == [(distance, "pdq-dihedral:rot90", "k1")]
    assert sent.evidence_key == evidence_key(sha256_hex(body)) and stage.blobs.exists(sent.evidence_key)
    with store.session() as s:
        row = s.scalars(select(Match)).one()
        assert (row.distance, row.variant) == (distance, "pdq-dihedral:rot90")


def test_wrong_message_type_is_permanent(stage: MatchingStage) -> None:
    with pytest.raises(PermanentError):
        stage.handle(MatchCandidate.model_construct())

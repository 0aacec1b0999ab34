"""The hashing and matching stages find a crawled video in a list of vPDQ hashes, and send it to review.

The clips are benign and made here with :func:`tests.unit.hashing.test_video.make_video`
(``synthetic.photo`` stills held as scenes); the crawled copy is the known clip decoded and
re-encoded smaller (MPEG-4 part 2 in AVI), the unrelated clip shows other pictures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.messages import FetchedMedia, MatchCandidate, MediaRef, Topic, decode, sha256_hex
from core.store import Store
from core.store.tables.matcher import Match
from hashing.settings import HashingSettings
from hashing.stage import HashingStage
from hashing.vpdq import hash_video, write_vpdq
from matcher.engine import Matcher
from matcher.settings import MatcherSettings, VpdqSettings
from matcher.stage import SPEC, MatchingStage
from matcher.vpdq import import_video, parse_vpdq
from tests.unit.hashing.test_video import make_video

KNOWN_SCENES = (31, 32, 33)
OTHER_SCENES = (41, 42, 43)


def reencode(original: Path, out: Path) -> bytes:
    """The clip decoded and written again at 7/8 of its size, in another container."""
    reader = cv2.VideoCapture(str(original))
    fps = reader.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = reader.read()
        if not ok:
            break
        frames.append(frame)
    reader.release()
    height, width = frames[0].shape[:2]
    size = (width * 7 // 8, height * 7 // 8)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"XVID"), fps, size)
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    writer.release()
    return out.read_bytes()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    known_dir, other_dir = tmp_path_factory.mktemp("known"), tmp_path_factory.mktemp("other")
    known = make_video(known_dir, KNOWN_SCENES, seconds=2.0)
    return {
        "known": known,
        "copy": reencode(known_dir / "v.mp4", known_dir / "copy.avi"),
        "other": make_video(other_dir, OTHER_SCENES, seconds=2.0),
    }


def crawl(store: Store, tmp_path: Path, body: bytes, settings: MatcherSettings) -> list[MatchCandidate]:
    """Hash ``body`` and match it, each stage in-process over one embedded bus; the candidates published."""
    bus, blobs = EmbeddedBus(tmp_path / "bus.db"), LocalBlobStore(tmp_path / "blobs")
    url = "http://h.test/clip"
    ref = MediaRef(campaign_id="c", page_url="http://h.test/", media_url=url, final_url=url,
                   fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    hashing = HashingStage(bus, store, blobs, HashingSettings())
    try:
        hashing.handle(FetchedMedia(ref=ref, http_status=200, size=len(body), sha256=sha256_hex(body), body=body))
    finally:
        hashing.close()
    matching = MatchingStage(bus, store, blobs, Matcher(store, settings), replica_id="t")
    stats = bus.consume(Topic.MEDIA_HASHED, SPEC.group, matching.handle, batch_handler=matching.handle_batch,
                        max_messages=1, defer_flush=SPEC.defer_flush)
    assert stats.handled == 1
    return [m for m in map(decode, bus.read_topic(str(Topic.MATCH_CANDIDATES))) if isinstance(m, MatchCandidate)]


@pytest.fixture
def entry_id(store: Store, clips: dict[str, bytes]) -> int:
    """The known clip imported as a vPDQ hash file (as ``hashset import-vpdq`` reads one)."""
    parsed = parse_vpdq(write_vpdq(hash_video(clips["known"])))
    assert parsed.errors == [] and len(parsed.features) == 6
    [found] = import_video(store, "videos", parsed.features, label="clip-1", classification="A1").added_ids
    return found


def test_a_reencoded_copy_of_a_known_video_goes_to_review_naming_its_entry(
    store: Store, tmp_path: Path, clips: dict[str, bytes], entry_id: int
) -> None:
    [candidate] = crawl(store, tmp_path, clips["copy"], MatcherSettings())
    assert candidate.decision == "review"
    [hit] = [h for h in candidate.hits if h.algorithm == "vpdq"]
    assert candidate.hits[0] == hit  # no frame is in an image list: the video hit decided
    assert (hit.entry_id, hit.hash_set, hit.entry_label, hit.classification) == (entry_id, "videos", "clip-1", "A1")
    assert hit.variant == "vpdq:query=100.0%,target=100.0%" and hit.distance == 0
    with store.session() as s:
        rows = s.execute(select(Match.hash_entry_id, Match.algorithm, Match.distance, Match.variant)).all()
    assert [tuple(r) for r in rows] == [(entry_id, "vpdq", 0, hit.variant)]


def test_a_setting_makes_a_video_hit_at_both_shares_a_match(
    store: Store, tmp_path: Path, clips: dict[str, bytes], entry_id: int
) -> None:
    [candidate] = crawl(store, tmp_path, clips["copy"], MatcherSettings(vpdq=VpdqSettings(match_percent=90)))
    assert (candidate.decision, candidate.hits[0].entry_id) == ("match", entry_id)


def test_an_unrelated_video_does_not_match(
    store: Store, tmp_path: Path, clips: dict[str, bytes], entry_id: int
) -> None:
    assert crawl(store, tmp_path, clips["other"], MatcherSettings()) == []

"""Unit tests for vPDQ matching: the two-way rule, stored video entries, the matcher over them, and its settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from core.messages import HashValue, MatchHit
from core.store import Store
from core.store.tables.matcher import HashEntry, VpdqFrame, VpdqVideo
from hashing.vpdq import VpdqFeature
from matcher.decision import decide_with
from matcher.engine import Matcher
from matcher.hashsets import entry_of, export_entries, import_entries, remove_entries, remove_set, set_enabled
from matcher.lists import ListEntry
from matcher.settings import MatcherSettings, VpdqSettings
from matcher.vpdq import KnownVideo, VpdqHit, VpdqMatcher, VpdqScore, digest, hit_of, import_video, known_videos, score


def code(seed: int) -> str:
    """A PDQ value far (about 128 bits) from every other seed's."""
    return f"{(seed * 0x9E3779B97F4A7C15_F39CC0605CEDC834_1082276BF3A27251_F86C6A11D0C18E95) % (1 << 256):064x}"


def flip(value: str, bits: int) -> str:
    """``value`` with its lowest ``bits`` bits flipped."""
    return f"{int(value, 16) ^ ((1 << bits) - 1):064x}"


def video(*values: str, quality: int = 100) -> list[VpdqFeature]:
    return [VpdqFeature(i, quality, v, float(i)) for i, v in enumerate(values)]


SETTINGS = VpdqSettings()


def test_frames_match_within_the_distance_inclusive() -> None:
    a = code(1)
    assert score(video(a), video(flip(a, 31)), SETTINGS) == score(video(a), video(a), SETTINGS)
    assert score(video(a), video(flip(a, 31)), SETTINGS).query_percent == 100.0
    assert score(video(a), video(flip(a, 32)), SETTINGS).query_percent == 0.0
    assert score(video(a), video(flip(a, 32)), VpdqSettings(distance=32)).query_percent == 100.0


def test_both_shares_must_reach_their_thresholds() -> None:
    long = video(*(code(i) for i in range(10)))
    clip = video(*(code(i) for i in range(5)))
    found = score(clip, long, SETTINGS)
    assert (found.query_percent, found.target_percent) == (100.0, 50.0)
    assert not found.matches(SETTINGS)
    assert found.matches(VpdqSettings(target_percent=50.0))
    assert not score(long, clip, VpdqSettings(target_percent=50.0)).matches(VpdqSettings(target_percent=50.0))
    assert score(long, video(*(code(i) for i in range(8))), SETTINGS).matches(SETTINGS)


def test_low_quality_and_repeated_frames_are_not_counted() -> None:
    a, b, c = code(1), code(2), code(3)
    query = [*video(a, a, a, a, b), VpdqFeature(5, 10, c, 5.0)]
    # Unique usable query frames: a, b (c is below the quality floor). Target: a, b.
    assert score(query, video(a, b), SETTINGS) == score(video(a, b), video(a, b), SETTINGS)
    assert score(query, video(a, b), VpdqSettings(min_quality=0)).query_percent == pytest.approx(200 / 3)
    assert score(video(a, quality=10), video(a), SETTINGS).query_percent == 0.0
    assert score([], video(a), SETTINGS) == score(video(a), [], SETTINGS)
    anything = VpdqSettings(query_percent=0, target_percent=0)
    assert not score([], video(a), anything).matches(anything)
    assert not score(video(a), video(b), anything).matches(anything)
    assert score(video(a, b), video(a), anything).matches(anything)


def test_videos_are_stored_per_entry_and_matched_as_wholes(store: Store) -> None:
    known = video(*(code(i) for i in range(4)))
    other = video(*(code(i) for i in range(10, 14)))
    first = import_video(store, "videos", known, label="v1", classification="A1", source="meta")
    [entry_id] = first.added_ids
    [change] = first.changes  # announced like any import, so running matchers load it
    assert (change.hash_set, change.added_ids) == ("videos", [entry_id])
    again = import_video(store, "videos", known)  # the same hash again adds nothing
    assert (again.added, again.duplicates, again.changes) == (0, 1, [])
    assert import_video(store, "videos", other, label="v2").added == 1
    with store.session() as s:
        entry = s.get(HashEntry, entry_id)
        assert entry is not None
        assert (entry.algorithm, entry.value, entry.label, entry.classification) == ("vpdq", digest(known), "v1", "A1")
    assert entry_of_store(store, entry_id) == ("videos", "v1", "A1")
    assert export_entries(store, "videos") == []  # a digest without its frames is no list entry to share
    stored = known_videos(store)
    assert [(v.hash_set, v.label, v.classification, list(v.features)) for v in stored] == [
        ("videos", "v1", "A1", known), ("videos", "v2", None, other)]
    matcher = VpdqMatcher(store, SETTINGS)
    assert matcher.load() == 2
    crawled = [VpdqFeature(f.frame_number, f.quality, flip(f.pdq, 5), f.timestamp) for f in known]
    hits = matcher.match(crawled)
    assert [(h.video.id, h.score.query_percent, h.score.target_percent) for h in hits] == [(entry_id, 100.0, 100.0)]
    hit = hit_of(hits[0], crawled)
    assert (hit.algorithm, hit.entry_id, hit.distance, hit.variant) == (
        "vpdq", entry_id, 0, "vpdq:query=100.0%,target=100.0%")
    assert matcher.match(video(code(99))) == []
    set_enabled(store, "videos", False)
    assert matcher.load() == 0


def entry_of_store(store: Store, entry_id: int) -> tuple[str, str | None, str | None] | None:
    with store.session() as s:
        return entry_of(s, entry_id)


def test_removing_a_set_or_an_entry_removes_its_videos_and_frames(store: Store) -> None:
    import_video(store, "videos", video(code(1), code(2)))
    kept = video(code(3))
    import_video(store, "kept", kept)
    import_video(store, "kept", video(code(4), code(5)))
    remove_set(store, "videos")
    remove_entries(store, "kept", [digest(video(code(4), code(5)))])
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(VpdqFrame)) == 1
        assert s.scalar(select(func.count()).select_from(VpdqVideo)) == 1
        assert s.scalar(select(func.count()).select_from(HashEntry)) == 1
    assert [(v.hash_set, list(v.features)) for v in known_videos(store)] == [("kept", kept)]


def _video_hit(query: float, target: float) -> MatchHit:
    found = VpdqHit(KnownVideo(7, "videos", "v", None, tuple(video(code(1)))), VpdqScore(query, target))
    return hit_of(found, video(code(1)))


def test_a_video_hit_is_reviewed_unless_a_setting_matches_it_at_both_shares() -> None:
    hit = _video_hit(95.0, 87.5)
    assert (hit.distance, hit.variant) == (13, "vpdq:query=95.0%,target=87.5%")
    assert decide_with([hit], MatcherSettings()).decision == "review"
    assert decide_with([hit], MatcherSettings(vpdq=VpdqSettings(match_percent=87))).decision == "match"
    assert decide_with([hit], MatcherSettings(vpdq=VpdqSettings(match_percent=88))).decision == "review"
    assert decide_with([_video_hit(88.0, 100.0)], MatcherSettings(vpdq=VpdqSettings(match_percent=88))).decision == (
        "match")


def test_an_empty_video_cannot_be_imported(store: Store) -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        import_video(store, "videos", [])


def test_vpdq_settings_are_a_closed_matcher_subsection() -> None:
    assert MatcherSettings().vpdq == VpdqSettings(distance=31, min_quality=50, query_percent=80, target_percent=80,
                                                  match_percent=None)
    assert MatcherSettings.model_validate({"vpdq": {"distance": 20}}).vpdq.distance == 20
    with pytest.raises(ValidationError):
        MatcherSettings.model_validate({"vpdq": {"distanse": 20}})
    with pytest.raises(ValidationError):
        VpdqSettings(query_percent=101)


def test_a_running_matcher_follows_video_imports_and_removals_from_their_announcements(store: Store) -> None:
    import_entries(store, "videos", [ListEntry(code(50), "pdq", "image")])  # the set exists, with an image
    matcher = Matcher(store)
    matcher.load()
    assert matcher.videos.videos == []
    known = video(code(1), code(2))
    [added] = import_video(store, "videos", known, label="v1").changes
    assert matcher.apply_change(added) == "applied"
    assert [(v.label, list(v.features)) for v in matcher.videos.videos] == [("v1", known)]
    [hit] = matcher.match([HashValue(algorithm="pdq", value=f.pdq, quality=f.quality, variant=f"frame@{f.timestamp}s")
                           for f in known])
    assert (hit.algorithm, hit.entry_label, hit.distance) == ("vpdq", "v1", 0)
    [removed] = remove_entries(store, "videos", [digest(known)]).changes
    assert matcher.apply_change(removed) == "applied"
    assert matcher.videos.videos == []
    assert matcher.counts() == {"pdq": 1}

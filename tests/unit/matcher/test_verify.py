"""Verification of uncertain candidates: edited copies verify, look-alikes are rejected, damage is reported.

Images are generated (:func:`tests.fixtures.images.benign_image`, numpy and Pillow only).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from prometheus_client import REGISTRY

from core.blobs import LocalBlobStore, evidence_key, staging_key
from core.bus.embedded import EmbeddedBus
from core.errors import ConfigError
from core.messages import HashedMedia, HashValue, MatchDecision, MatchHit, sha256_hex
from core.settings import load
from core.store import Store
from hashing.hasher import HashPlan, compute_hashes
from matcher.engine import Matcher
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from matcher.settings import MatcherSettings, VerifySettings
from matcher.stage import MatchingStage
from matcher.verify import (
    CandidateVerifier,
    Verifier,
    VerifyOutcome,
    keep_reference,
    reduce_image,
    reference_key,
)
from tests.fixtures.images import benign_image
from tests.fixtures.replicas import random_pdq
from tests.unit.matcher.test_stage import candidates, flip, media

SETTINGS = VerifySettings(enabled=True)
KNOWN = random_pdq(11)
BAND = 45
"""A PDQ distance beyond the review threshold (31) and within the default band (64)."""


def _jpeg(image: Image.Image, quality: int = 80) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _original() -> Image.Image:
    return benign_image(41, (480, 360))


def _edited(image: Image.Image) -> Image.Image:
    """A corner crop of 12%, a caption bar and a downscale: the edits global hashes miss most."""
    w, h = image.size
    cropped = image.crop((int(0.12 * w), int(0.12 * h), w, h))
    bar = Image.new("RGB", (cropped.width, cropped.height + 50), "white")
    bar.paste(cropped, (0, 50))
    ImageDraw.Draw(bar).text((10, 15), "when you see it", fill="black")
    return bar.resize((bar.width * 3 // 4, bar.height * 3 // 4))


def _look_alike(image: Image.Image) -> Image.Image:
    """Another picture's fine detail over this picture's coarse layout: close in PDQ, different in content."""
    coarse = image.filter(ImageFilter.GaussianBlur(12))
    other = benign_image(977, image.size)
    detail = np.asarray(other, np.float32) - np.asarray(other.filter(ImageFilter.GaussianBlur(3)), np.float32)
    mixed = np.clip(np.asarray(coarse, np.float32) + 3.0 * detail, 0, 255).astype(np.uint8)
    return Image.fromarray(mixed)


def _pdq(data: bytes) -> str:
    return next(h.value for h in compute_hashes(data, plan=HashPlan(algorithms=("pdq",))).hashes if not h.variant)


def _distance(a: str, b: str) -> int:
    return int(bin(int(a, 16) ^ int(b, 16)).count("1"))


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(SETTINGS)


def test_an_edited_copy_verifies(verifier: Verifier) -> None:
    original = _jpeg(_original())
    result = verifier.verify(reduce_image(_jpeg(_edited(_original()), 70), 512), reduce_image(original, 512))
    assert result.outcome is VerifyOutcome.VERIFIED, result.reason
    assert result.inliers >= SETTINGS.min_inliers


def test_a_look_alike_near_in_pdq_is_rejected(verifier: Verifier) -> None:
    original, look_alike = _jpeg(_original()), _jpeg(_look_alike(_original()))
    # the case verification exists for: a global hash that cannot tell the two apart
    assert 31 < _distance(_pdq(original), _pdq(look_alike)) <= 64
    result = verifier.verify(reduce_image(look_alike, 512), reduce_image(original, 512))
    assert result.outcome is VerifyOutcome.REJECTED, result.reason


def test_an_unrelated_picture_is_rejected(verifier: Verifier) -> None:
    result = verifier.verify(reduce_image(_jpeg(benign_image(5, (400, 300))), 512),
                             reduce_image(_jpeg(_original()), 512))
    assert result.outcome is VerifyOutcome.REJECTED, result.reason


@pytest.mark.parametrize("flat", [Image.new("L", (400, 300), 128),
                                  Image.linear_gradient("L").resize((400, 300))], ids=["grey", "gradient"])
def test_a_featureless_picture_is_inconclusive_not_an_error(verifier: Verifier, flat: Image.Image) -> None:
    result = verifier.verify(reduce_image(_jpeg(flat), 512), reduce_image(_jpeg(_original()), 512))
    assert result.outcome is VerifyOutcome.INCONCLUSIVE
    assert "keypoints" in result.reason


def test_references_are_reduced_grey_copies(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    data = _jpeg(benign_image(3, (1600, 900)))
    key = keep_reference(blobs, sha256_hex(data), data, 512)
    assert key == reference_key(sha256_hex(data))
    with Image.open(io.BytesIO(blobs.get(key))) as kept:
        assert (kept.mode, max(kept.size)) == ("L", 512)


# The stage: an image-backed list, candidates in the band ------------------------------------------


@pytest.fixture
def image_list(store: Store, tmp_path: Path) -> Iterator[tuple[LocalBlobStore, str]]:
    """A list made from one image: its PDQ (a stand-in code) and SHA-256 under one label, its reference kept."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    original = _jpeg(_original())
    sha = sha256_hex(original)
    import_entries(store, "imgs", [ListEntry(KNOWN, "pdq", "beach", "baseline_csam"),
                                   ListEntry(sha, "sha256", "beach", "baseline_csam")])
    keep_reference(blobs, sha, original)
    yield blobs, sha


def _stage(store: Store, blobs: LocalBlobStore, tmp_path: Path, **verify: object) -> MatchingStage:
    settings = MatcherSettings(verify=VerifySettings.model_validate({"enabled": True, **verify}))
    return MatchingStage(EmbeddedBus(tmp_path / "bus.db"), store, blobs, Matcher(store, settings), replica_id="t")


def _count(outcome: VerifyOutcome) -> float:
    return REGISTRY.get_sample_value("orbweaver_matcher_verifications_total", {"outcome": str(outcome)}) or 0.0


def _in_band(body: bytes, blobs: LocalBlobStore) -> HashedMedia:
    return media(body, [HashValue(algorithm="pdq", value=flip(KNOWN, BAND))], blobs)


@pytest.mark.parametrize(("enabled", "decision"), [(True, "match"), (False, None)])
def test_a_verified_band_hit_matches_and_without_verification_it_is_dropped(
    store: Store, tmp_path: Path, image_list: tuple[LocalBlobStore, str], enabled: bool, decision: str | None
) -> None:
    blobs, _ = image_list
    stage = _stage(store, blobs, tmp_path, enabled=enabled)
    body = _jpeg(_edited(_original()), 70)
    before = _count(VerifyOutcome.VERIFIED)
    stage.handle(_in_band(body, blobs))
    found = candidates(stage)
    assert [c.decision for c in found] == ([MatchDecision(decision)] if decision else [])
    if decision:
        assert found[0].hits[0].distance == BAND and blobs.exists(evidence_key(sha256_hex(body)))
        assert _count(VerifyOutcome.VERIFIED) == before + 1
    else:
        assert not blobs.exists(staging_key("m1"))


def test_a_verified_band_hit_can_be_sent_to_review_instead(
    store: Store, tmp_path: Path, image_list: tuple[LocalBlobStore, str]
) -> None:
    blobs, _ = image_list
    stage = _stage(store, blobs, tmp_path, verified_decision="review")
    stage.handle(_in_band(_jpeg(_edited(_original()), 70), blobs))
    assert [c.decision for c in candidates(stage)] == [MatchDecision.REVIEW]


def test_a_rejected_band_hit_is_dropped_and_counted(
    store: Store, tmp_path: Path, image_list: tuple[LocalBlobStore, str]
) -> None:
    blobs, _ = image_list
    stage = _stage(store, blobs, tmp_path)
    before = _count(VerifyOutcome.REJECTED)
    stage.handle(_in_band(_jpeg(_look_alike(_original())), blobs))
    assert candidates(stage) == []
    assert _count(VerifyOutcome.REJECTED) == before + 1
    assert not blobs.exists(staging_key("m1"))


def test_a_corrupt_reference_is_a_clear_failure_and_the_candidate_goes_to_review(
    store: Store, tmp_path: Path, image_list: tuple[LocalBlobStore, str]
) -> None:
    blobs, sha = image_list
    blobs.put(reference_key(sha), b"\x89PNG\r\n\x1a\n damaged")
    body = _jpeg(_edited(_original()), 70)
    blobs.put(staging_key("m1"), body)
    check = CandidateVerifier(store, blobs, SETTINGS).check(staging_key("m1"), _hits(store, body))
    assert check.outcome is VerifyOutcome.FAILED
    assert reference_key(sha) in check.reason and "unreadable" in check.reason
    stage = _stage(store, blobs, tmp_path)
    stage.handle(_in_band(body, blobs))
    assert [c.decision for c in candidates(stage)] == [MatchDecision.REVIEW]
    assert blobs.exists(evidence_key(sha256_hex(body)))


def test_entries_without_an_image_are_unavailable(store: Store, tmp_path: Path) -> None:
    import_entries(store, "hash-only", [ListEntry(KNOWN, "pdq", "beach", "baseline_csam")])
    blobs = LocalBlobStore(tmp_path / "blobs")
    body = _jpeg(_edited(_original()), 70)
    blobs.put(staging_key("m1"), body)
    check = CandidateVerifier(store, blobs, SETTINGS).check(staging_key("m1"), _hits(store, body))
    assert check.outcome is VerifyOutcome.UNAVAILABLE


def _hits(store: Store, body: bytes) -> list[MatchHit]:
    matcher = Matcher(store, MatcherSettings(verify=SETTINGS))
    matcher.load()
    outcome = matcher.evaluate([HashValue(algorithm="pdq", value=flip(KNOWN, BAND))])
    assert outcome.verdict.decision is MatchDecision.NONE and outcome.uncertain
    return list(outcome.uncertain)


# Settings --------------------------------------------------------------------------------------------


def test_verify_settings_come_from_the_environment_and_refuse_unknown_keys() -> None:
    environ = {"ORBWEAVER_VERIFY__ENABLED": "true", "ORBWEAVER_VERIFY__BAND": '{"pdq": 48}'}
    loaded = load(MatcherSettings, environ=environ)
    assert loaded.verify.enabled and loaded.verify.band == {"pdq": 48}
    assert loaded.search_radius("pdq") == 48 and loaded.search_radius("phash") == loaded.review_radius("phash")
    assert MatcherSettings().search_radius("pdq") == MatcherSettings().review_radius("pdq")  # off: as before
    for bad in ({"ORBWEAVER_VERIFY__RATIO_TEST": "0.7"}, {"ORBWEAVER_VERIFY__BAND": '{"sha256": 3}'},
                {"ORBWEAVER_VERIFY__VERIFIED_DECISION": "none"}):
        with pytest.raises(ConfigError):
            load(MatcherSettings, environ=bad)


def test_analyst_confirmed_media_is_verified_from_its_kept_evidence(store: Store, tmp_path: Path) -> None:
    # review adds confirmed media to the local list as sha256 + pdq under "review item N"
    original = _jpeg(_original())
    import_entries(store, "local", [ListEntry(KNOWN, "pdq", "review item 7", "baseline_csam"),
                                    ListEntry(sha256_hex(original), "sha256", "review item 7", "baseline_csam")])
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put(evidence_key(sha256_hex(original)), original)
    body = _jpeg(_edited(_original()), 70)
    blobs.put(staging_key("m1"), body)
    check = CandidateVerifier(store, blobs, SETTINGS).check(staging_key("m1"), _hits(store, body))
    assert check.outcome is VerifyOutcome.VERIFIED, check.reason

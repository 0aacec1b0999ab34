"""Hashing must not drift while it gets faster: plain hashes and variant detection against recorded values.

The plain hashes (sha256, pdq with its quality, phash) of a fixed set of generated images
(``synthetic.photo``, encoded here as JPEG and PNG) and the boxes and angles variant detection
finds in framed, padded, captioned and turned copies of generated pictures (``edits``) were
recorded with the code on branch ``merge12``, before issue 13's speed work. Plain hashes must
stay byte-identical: they are what known lists hold. Detection (:func:`hashing.variants.detect`,
which screens a reduced copy and measures what it finds at full size) may move a side by at most
:data:`BOX_TOLERANCE` working pixels and an angle by :data:`ANGLE_TOLERANCE` degrees (the
coarser grid of ``deframe_box`` rounds differently; the robustness benchmark, not this test,
shows recall is kept).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from hashing.base import MediaInput
from hashing.hasher import HashPlan, compute_hashes
from hashing.variants import Box, detect
from tests.unit.hashing import edits
from tests.unit.hashing.synthetic import encode, photo

BOX_TOLERANCE = 1
ANGLE_TOLERANCE = 0.01
PLAIN_PLAN = HashPlan(algorithms=("sha256", "pdq", "phash"), dihedral=False, variants=False)
FULL_PLAN = HashPlan(algorithms=("sha256", "pdq", "phash"))

# (sha256, pdq, pdq quality, phash), recorded on merge12 (8de0f9f)
PLAIN: dict[tuple[int, str], tuple[str, str, int, str]] = {
    (0, "JPEG"): (
        "f5cab60313fa2509b5a788473f486b430f7e9f6c1ab5f2049a2d71a5186f3766",
        "db3cc98026ceb862693d519092c7b6706d31c916fac536a71fac4fe9c3fa001f",
        100,
        "f87c2fcb1a721134",
    ),
    (0, "PNG"): (
        "1f629d4b42c4bf33f7a298fab1d2dba3da69417b3e0ffbf085ad97798ec1d6a6",
        "db3cc98026ceb862693d619092c7b6706d31c916fac536a71fac4fe9c3fa001f",
        100,
        "f87c2fcb1a721134",
    ),
    (1, "JPEG"): (
        "cd9530a392ce3fc4d24330d0c4f44142eaf5230947cb05da43e643b2d388b0db",
        "9769ab923a8d8f5ba9d6d51b51249ccbf33498a73339dd54d731115654463318",
        83,
        "b38c31b54695ce72",
    ),
    (1, "PNG"): (
        "90c5606c8490a609c2102e01dded48b573313695f4a11c132782c4ca893b7d28",
        "9769ab923a8d8f5ba9d6955b51249ccbf33498a73339dd54d731115654463318",
        82,
        "b38c31b54695ce72",
    ),
    (2, "JPEG"): (
        "2ca083e00ce24efaa761e6744fd215741749dabdfcc7f8616823f31db532bef2",
        "e1a6b436fa66b5a37813a96fc7985a4bad0996915b430d3526973bc1d22dc09e",
        100,
        "f73cd8c174d4e184",
    ),
    (2, "PNG"): (
        "6978e3f70a0b0b05e387c22157504e41644511e930d796e0a4e19d451097b1d1",
        "e1a6b436fa66b5a37813a96fc7985a4bad0996915b430d3526973bc1d22dc09e",
        100,
        "f73cd8c174d4e184",
    ),
    (3, "JPEG"): (
        "1d0d7eb574a7ee27beb5d0b65bbfd326ea887334bb28421457f8684a749a7908",
        "9199c7a4fa26a1ceafce703e45c3af043874c5d1171c3a39cee31b0c755ccad2",
        100,
        "ea259d18634e9ce5",
    ),
    (3, "PNG"): (
        "9013b2d7998212e15057df570bb089392a6e5cca7b63a07ba9e887bc59a861d7",
        "9199c7a4fa26a1ceafce703e45c3af043874c5d1171c3a39cee31b0c755ccad2",
        100,
        "ea259d18634e9ce5",
    ),
    (4, "JPEG"): (
        "1c24fbf7d37283f2aef92c712e25c603046ece2b41a854c662c81963a277727c",
        "c8dd3b37b55a8ccda99d73322a63b189942363b759265558a207223f55facc52",
        78,
        "8aa58f7e708db252",
    ),
    (4, "PNG"): (
        "3c1f530f1e250d9a1e6cb51ffb79dcd646965871d3586ea0b54d13306864eaac",
        "c8dd3b37b55a8ccda99d73322a63b189942363b759265558a207223f55facc52",
        77,
        "8aa58f7e708db252",
    ),
    (5, "JPEG"): (
        "1e15df80732ffaa28fb60fc9d996f23e5e54788bec6d42230a2df29e5a94d914",
        "7c651e09ec08e802788e742f64b96c5fcc1cac8fa9b9519a557aaf78ab4792e1",
        70,
        "d243710f2fac4e78",
    ),
    (5, "PNG"): (
        "5d97d6ad1cf015e21ccc40f826705ad55267e507401b35aead75a11bab02123d",
        "7c651e09ec08e80a780e742f64b96c5fcc1cac8fa9b9519a557aaf78ab4792e1",
        70,
        "d243710f2fac4e78",
    ),
}


def sample(seed: int) -> Image.Image:
    return photo(100 + seed, (300 + 40 * seed, 240 + 20 * seed))


@pytest.mark.parametrize(("seed", "fmt"), list(PLAIN))
def test_plain_hashes_are_byte_identical_to_before(seed: int, fmt: str) -> None:
    data = encode(sample(seed), fmt)
    plain = compute_hashes(data, plan=PLAIN_PLAN)
    assert not plain.errors
    got = {h.algorithm: h for h in plain.hashes}
    assert (got["sha256"].value, got["pdq"].value, got["pdq"].quality, got["phash"].value) == PLAIN[(seed, fmt)]
    # the variants and rotations add hashes, they never change the plain ones
    assert compute_hashes(data, plan=FULL_PLAN).plain == plain.hashes


def working(image: Image.Image) -> np.ndarray:
    """The grayscale working image the hasher sees of ``image`` shared as a JPEG."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return np.asarray(MediaInput(buffer.getvalue()).canonical_raster.image, dtype=np.float32)


def near(found: Box | None, recorded: Box | None) -> bool:
    if found is None or recorded is None:
        return found is recorded
    return max(abs(a - b) for a, b in zip(found, recorded, strict=True)) <= BOX_TOLERANCE


SCREENSHOT: Box = (20, 75, 260, 255)
SCREENSHOT_TRIM: dict[bool, Box | None] = {False: None, True: (13, 4, 354, 304)}
PAD: dict[int, tuple[Box, Box]] = {
    0: ((24, 18, 264, 195), (24, 18, 264, 198)),
    1: ((24, 18, 154, 198), (24, 18, 264, 198)),
    2: ((24, 18, 205, 198), (24, 18, 264, 198)),
    3: ((24, 18, 264, 198), (24, 18, 264, 198)),
}
CAPTION_TRIM: dict[int, Box] = {0: (0, 14, 240, 213), 1: (0, 0, 240, 203), 2: (0, 14, 240, 216), 3: (0, 0, 240, 203)}
TURNED = {0: 5.028, 1: 6.009, 2: 7.071, 4: 8.989, 6: 11.002, 7: 11.993}


@pytest.mark.parametrize("seed", range(4))
def test_detection_finds_what_it_found_before(seed: int) -> None:
    picture = photo(200 + seed, (480, 360))
    dark = seed % 2 == 1
    shot = detect(working(edits.screenshot(picture, dark=dark)[0]))
    assert near(shot.deframed, SCREENSHOT)
    assert near(shot.trimmed, SCREENSHOT_TRIM[dark])
    assert shot.angle is None
    padded = detect(working(edits.pad(picture, 0.1, fill=(255, 255, 255) if dark else (0, 0, 0))[0]))
    assert near(padded.trimmed, PAD[seed][0])
    assert near(padded.deframed, PAD[seed][1])
    captioned = detect(working(edits.caption(picture, top=seed % 2 == 0)[0]))
    assert near(captioned.trimmed, CAPTION_TRIM[seed])


@pytest.mark.parametrize(("seed", "angle"), list(TURNED.items()))
def test_turn_angles_are_what_they_were(seed: int, angle: float) -> None:
    turned = detect(working(photo(200 + seed, (480, 360)).rotate(5 + seed, fillcolor=(0, 0, 0))))
    assert turned.angle is not None and abs(turned.angle - angle) <= ANGLE_TOLERANCE
    assert turned.trimmed is None

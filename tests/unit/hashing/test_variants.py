"""Unit tests for the query-side variants: trim, deframe, unrotate, uncrop (generated benign images only).

Pictures come from ``synthetic.photo``; the edits (padding, a browser-page screenshot, a caption
bar, a 5% crop) from ``edits``, turns from Pillow's ``rotate``. Distances quoted in comments
were measured on these images.
"""

from __future__ import annotations

import dataclasses
import io
import itertools

import numpy as np
import pytest
from PIL import Image

from hashing.algorithms import Pdq, PHash
from hashing.base import MediaInput, hamming_hex
from hashing.decode import Raster
from hashing.variants import (
    MIN_SIDE,
    UNCROP_MARGIN,
    Variant,
    VariantName,
    _bare_mask,
    best_rectangle,
    deframe_box,
    query_variants,
    rotation_angle,
    trim_box,
    uncrop,
    unrotate,
)
from tests.unit.hashing import edits
from tests.unit.hashing.synthetic import photo

PICTURE = photo(1, (480, 360))


def hashes(image: Image.Image) -> tuple[str, str]:
    raster = Raster.plain(image)
    return Pdq().hash_raster(raster).value, PHash().hash_raster(raster).value


def gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)


def by_name(variants: list[Variant]) -> dict[str, Image.Image]:
    return {v.name: v.image for v in variants}


def test_names_are_the_stored_keys() -> None:
    assert [v.value for v in VariantName] == ["trimmed", "deframed", "unrotated", "uncropped"]


@pytest.mark.parametrize("seed", range(6))
def test_a_plain_photo_gets_only_the_uncropped_variant(seed: int) -> None:
    image = photo(seed, (400, 300))
    variants = query_variants(image)
    assert [v.name for v in variants] == [VariantName.UNCROPPED]
    pad_x, pad_y = round(400 * UNCROP_MARGIN), round(300 * UNCROP_MARGIN)
    assert variants[0].image.size == (400 + 2 * pad_x, 300 + 2 * pad_y)


@pytest.mark.parametrize("fill", [(0, 0, 0), (255, 255, 255), (40, 90, 200)])
def test_padding_is_trimmed_back_to_the_picture(fill: tuple[int, int, int]) -> None:
    padded, box = edits.pad(PICTURE, 0.2, fill)
    assert trim_box(gray(padded)) == box
    trimmed = by_name(query_variants(padded))[VariantName.TRIMMED]
    assert trimmed.size == PICTURE.size
    assert hashes(trimmed) == hashes(PICTURE)
    # untouched, the padded copy is as far from the picture as an unrelated image (about 120 bits)
    assert hamming_hex(hashes(padded)[0], hashes(PICTURE)[0]) > 64


def test_nested_borders_are_trimmed_one_per_pass() -> None:
    matted, inner = edits.pad(PICTURE, 0.1, (255, 255, 255))
    framed, outer = edits.pad(matted, 0.05, (10, 10, 10))
    left, top = outer[0] + inner[0], outer[1] + inner[1]
    assert trim_box(gray(framed)) == (left, top, left + PICTURE.width, top + PICTURE.height)


def test_a_blank_or_tiny_image_is_not_trimmed_away() -> None:
    blank = Image.new("RGB", (300, 200), (250, 250, 250))
    assert trim_box(gray(blank)) is None
    assert [v.name for v in query_variants(blank)] == [VariantName.UNCROPPED]
    assert query_variants(Image.new("L", (MIN_SIDE - 1, 200))) == []


def test_a_hairline_border_is_not_worth_a_lookup() -> None:
    # one pixel on each side: less than 2% of a side, the variant would hash like the image
    framed, _ = edits.pad(PICTURE, 1 / 480, (0, 0, 0))
    assert trim_box(gray(framed)) is None


@pytest.mark.parametrize("dark", [False, True])
def test_a_screenshot_is_deframed_to_the_picture(dark: bool) -> None:
    shot, box = edits.screenshot(PICTURE, dark=dark)
    found = deframe_box(gray(shot))
    assert found is not None
    assert max(abs(a - b) for a, b in zip(found, box, strict=True)) <= 1
    deframed = by_name(query_variants(shot))[VariantName.DEFRAMED]
    pdq, phash = hashes(deframed)
    assert hamming_hex(pdq, hashes(PICTURE)[0]) <= 8
    assert hamming_hex(phash, hashes(PICTURE)[1]) <= 4


@pytest.mark.parametrize("top", [True, False])
def test_a_caption_bar_is_cut_off(top: bool) -> None:
    captioned, box = edits.caption(PICTURE, top=top)
    assert deframe_box(gray(captioned)) == box
    assert hashes(by_name(query_variants(captioned))[VariantName.DEFRAMED]) == hashes(PICTURE)


@pytest.mark.parametrize("seed", range(4))
def test_no_frame_is_found_in_a_plain_photo(seed: int) -> None:
    assert deframe_box(gray(photo(seed, (480, 360)))) is None


# Seed 2 is left out: its cropped copy has a flat strip at one edge, which gets trimmed first.
@pytest.mark.parametrize("seed", [0, 1, 3, 4])
def test_uncropping_brings_a_five_percent_crop_closer(seed: int) -> None:
    picture = photo(seed, (480, 360))
    cropped = edits.crop(picture, 0.05)
    uncropped = by_name(query_variants(cropped))[VariantName.UNCROPPED]
    original = hashes(picture)
    before, after = hashes(cropped), hashes(uncropped)
    # measured: PDQ 52-78 bits before, 10-22 after; pHash 4-12 before, 2-6 after
    assert hamming_hex(after[0], original[0]) <= 31 < hamming_hex(before[0], original[0])
    assert hamming_hex(after[1], original[1]) <= 8


def working_image(image: Image.Image) -> Image.Image:
    """What the hasher would see of ``image`` shared as a JPEG: the reduced grayscale working image."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return MediaInput(buffer.getvalue()).canonical_raster.image


@pytest.mark.parametrize(
    ("size", "degrees"), [((64, 48), 4.0), ((64, 48), -7.5), ((97, 131), 12.0), ((200, 150), -0.8), ((640, 480), -3.0)]
)
def test_bare_mask_is_where_pillow_leaves_no_picture(size: tuple[int, int], degrees: float) -> None:
    bare = np.asarray(Image.new("L", size, 255).rotate(degrees, resample=Image.Resampling.NEAREST, fillcolor=0)) == 0
    # Pillow rounds in fixed point: a pixel whose source falls exactly on the edge may go either way.
    assert (_bare_mask(*size, degrees) != bare).sum() <= 2 and bare.sum() > 100


TURNS = [(4.0, (0, 0, 0)), (-4.0, (0, 0, 0)), (3.0, (255, 255, 255)), (-7.0, (0, 0, 0))]


@pytest.mark.parametrize(("seed", "turn"), list(itertools.product(range(4), TURNS)))
def test_a_turned_photo_is_turned_back(seed: int, turn: tuple[float, tuple[int, int, int]]) -> None:
    degrees, fill = turn
    picture = photo(seed, (480, 360))
    turned = working_image(picture.rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=fill))
    angle = rotation_angle(gray(turned))
    assert angle is not None and abs(angle - degrees) < 0.15
    unrotated = by_name(query_variants(turned))[VariantName.UNROTATED]
    original, before, after = hashes(working_image(picture)), hashes(turned), hashes(unrotated)
    # measured: PDQ 42-116 bits before, 8-38 after; pHash 4-24 before, 0-8 after
    assert hamming_hex(after[0], original[0]) < hamming_hex(before[0], original[0])
    assert hamming_hex(after[1], original[1]) <= 8


def test_turned_back_pictures_keep_their_mode_and_size() -> None:
    picture = photo(2, (240, 180)).rotate(5, fillcolor=(0, 0, 0))
    for mode in ("L", "RGB"):
        back = unrotate(picture.convert(mode), 5.0)
        assert (back.mode, back.size) == (mode, (240, 180))
        # The bare corners are filled with the picture's mean colour, not left black.
        assert np.asarray(back.convert("L"))[0, 0] > 30


def test_no_turn_is_found_in_plain_padded_or_framed_pictures() -> None:
    pictures = [photo(seed, (480, 360)) for seed in range(6)]
    edited = [
        *pictures,
        edits.pad(pictures[0], 0.1)[0],
        edits.pad(pictures[1], 0.2, (255, 255, 255))[0],
        edits.screenshot(pictures[2])[0],
        edits.screenshot(pictures[3], dark=True)[0],
        edits.caption(pictures[4])[0],
        edits.crop(pictures[5], 0.05),
        Image.new("RGB", (300, 200), (0, 0, 0)),
    ]
    for image in edited:
        work = working_image(image)
        assert rotation_angle(gray(work)) is None
        assert VariantName.UNROTATED not in by_name(query_variants(work))


def test_uncrop_repeats_the_edge_pixels() -> None:
    image = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20, "L")
    out = np.asarray(uncrop(image, 0.25))
    assert out.shape == (3 + 2, 4 + 2)
    assert (out[1:-1, 1:-1] == np.asarray(image)).all()
    assert (out[0, 1:-1] == np.asarray(image)[0]).all() and (out[1:-1, 0] == np.asarray(image)[:, 0]).all()


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "I;16"])
def test_any_mode_is_accepted_and_variants_are_l_or_rgb(mode: str) -> None:
    padded, _ = edits.pad(PICTURE, 0.2, (255, 255, 255))
    deep = Image.fromarray(np.asarray(padded.convert("L"), np.uint16) * 257)
    image = deep if mode == "I;16" else padded.convert(mode)
    variants = query_variants(image)
    assert variants[0].name == VariantName.TRIMMED
    assert all(v.image.mode in {"L", "RGB"} for v in variants)


def test_variants_are_frozen_records() -> None:
    variant = query_variants(PICTURE)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        variant.name = "other"  # type: ignore[misc]


def brute_force_rectangle(score: np.ndarray) -> float:
    rows, cols = score.shape
    return max(
        float(score[top:bottom, left:right].sum())
        for top, bottom in itertools.combinations(range(rows + 1), 2)
        for left, right in itertools.combinations(range(cols + 1), 2)
    )


@pytest.mark.parametrize("seed", range(20))
def test_best_rectangle_equals_the_brute_force_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 8, size=2))
    score = rng.choice(np.array([1.0, -2.0], dtype=np.float32), size=shape, p=[0.6, 0.4])
    total, (left, top, right, bottom) = best_rectangle(score)
    assert total == pytest.approx(brute_force_rectangle(score))
    assert float(score[top:bottom, left:right].sum()) == pytest.approx(total)
    assert 0 <= left < right <= shape[1] and 0 <= top < bottom <= shape[0]

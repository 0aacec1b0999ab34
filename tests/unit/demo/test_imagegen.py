"""Unit tests of the benign image generator and its alterations."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from orbweaver.demo.imagegen import (
    COMBINATIONS,
    DEFAULT_QUALITY,
    AlterationKind,
    ImageFormat,
    alter,
    decode,
    encode,
    generate,
    hamming,
    pdq,
    to_hex,
    trim_uniform_border,
)
from tests.fixtures.images import benign_image, jpeg_bytes, png_bytes

SIZES = [(640, 480), (480, 720), (800, 600), (512, 512)]


def _images(n: int, start: int = 100) -> list[Image.Image]:
    return [generate(start + i, SIZES[i % len(SIZES)]) for i in range(n)]


def test_same_seed_gives_same_pixels_and_bytes() -> None:
    a, b = generate(42, (640, 480)), generate(42, (640, 480))
    assert a.tobytes() == b.tobytes()
    for fmt in ImageFormat:
        assert encode(a, fmt) == encode(b, fmt)


def test_different_seeds_give_different_images() -> None:
    assert generate(1, (320, 240)).tobytes() != generate(2, (320, 240)).tobytes()


@pytest.mark.parametrize("size", [(16, 16), (481, 799), (800, 480)])
def test_size_and_mode_are_exact(size: tuple[int, int]) -> None:
    img = generate(3, size)
    assert img.size == size
    assert img.mode == "RGB"


def test_too_small_size_is_refused() -> None:
    with pytest.raises(ValueError, match="below 16x16"):
        generate(0, (15, 100))


def test_most_generated_images_have_high_pdq_quality() -> None:
    qualities = [pdq(img)[1] for img in _images(30)]
    assert sum(q >= 80 for q in qualities) >= 27, qualities


def test_unrelated_images_are_far_apart() -> None:
    hashes = [pdq(img)[0] for img in _images(20, start=500)]
    distances = [hamming(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert 118 <= float(np.mean(distances)) <= 138
    # Far beyond any match threshold: an accidental match between two seeds would make the
    # demo's counts wrong.
    assert min(distances) >= 64


@pytest.mark.parametrize("fmt", list(ImageFormat))
def test_every_format_decodes_back(fmt: ImageFormat) -> None:
    img = generate(9, (200, 150))
    data = encode(img, fmt)
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == fmt.value
    assert decode(data).size == (200, 150)


def test_resize_stays_in_range() -> None:
    img = generate(5, (800, 600))
    for k in range(20):
        out = alter(img, AlterationKind.RESIZE, np.random.default_rng(k))
        assert 0.5 * 800 - 1 <= out.image.width <= 0.9 * 800 + 1
        assert out.image.width / out.image.height == pytest.approx(800 / 600, rel=0.01)
        assert out.quality == DEFAULT_QUALITY
        assert out.steps[0].startswith("resize(")


def test_recompress_only_sets_quality() -> None:
    img = generate(5, (400, 300))
    qualities = {alter(img, "recompress", np.random.default_rng(k)).quality for k in range(30)}
    assert min(qualities) >= 40
    assert max(qualities) <= 80
    assert alter(img, "recompress", np.random.default_rng(0)).image.tobytes() == img.tobytes()


def test_crop_removes_two_to_five_percent_per_axis() -> None:
    img = generate(5, (1000, 800))
    for k in range(20):
        out = alter(img, AlterationKind.CROP, np.random.default_rng(k)).image
        assert 0.95 * 1000 - 1 <= out.width <= 0.98 * 1000 + 1
        assert 0.95 * 800 - 1 <= out.height <= 0.98 * 800 + 1


def test_border_adds_three_to_eight_percent_per_side_and_trims_away() -> None:
    img = generate(5, (600, 400))
    for k in range(10):
        out = alter(img, AlterationKind.BORDER, np.random.default_rng(k))
        grow = (out.image.width - 600) / 2 / 600
        assert 0.03 - 0.002 <= grow <= 0.08 + 0.002
        trimmed = trim_uniform_border(np.asarray(decode(encode(out.image))))
        # JPEG ringing can leave a pixel or two of frame; never cut into the picture much.
        assert abs(trimmed.shape[1] - 600) <= 4, out.label
        assert abs(trimmed.shape[0] - 400) <= 4, out.label


def test_trim_leaves_an_unframed_image_alone() -> None:
    rgb = np.asarray(generate(11, (320, 240)))
    assert trim_uniform_border(rgb).shape == rgb.shape


def test_trim_cuts_an_exact_solid_frame() -> None:
    rgb = np.asarray(generate(11, (320, 240)))
    framed = np.zeros((240 + 20, 320 + 30, 3), dtype=np.uint8)
    framed[:] = (250, 250, 250)
    framed[10:250, 15:335] = rgb
    trimmed = trim_uniform_border(framed)
    assert trimmed.shape[:2] == (240, 320)
    assert np.array_equal(trimmed, rgb)


def test_alter_is_repeatable_for_a_seeded_rng() -> None:
    img = generate(6, (500, 400))
    chain = COMBINATIONS[-1]
    a = alter(img, chain, np.random.default_rng(3))
    b = alter(img, chain, np.random.default_rng(3))
    assert a.label == b.label
    assert a.image.tobytes() == b.image.tobytes()
    assert len(a.steps) == len(chain)
    assert [s.split("(")[0] for s in a.steps] == [k.value for k in chain]


def test_mild_alterations_stay_within_match_distance() -> None:
    # Resize, recompress and border (after trimming) are what PDQ is built to survive; crops
    # are fragile and the site generator re-draws them, so they are not asserted here.
    for img in _images(8, start=900):
        bits, _ = pdq(img)
        for kind in ("resize", "recompress", "border"):
            out = alter(img, kind, np.random.default_rng(1))
            copy = trim_uniform_border(np.asarray(decode(encode(out.image, quality=out.quality))))
            assert hamming(bits, pdq(copy)[0]) <= 31, out.label


def test_unknown_alteration_is_refused() -> None:
    with pytest.raises(ValueError):
        alter(generate(1, (64, 64)), "rotate", np.random.default_rng(0))


def test_hex_matches_python_threatexchange_convention() -> None:
    bits, _ = pdq(generate(2, (300, 300)))
    as_int = int("".join("1" if b else "0" for b in bits), 2)
    assert to_hex(bits) == f"{as_int:064x}"


def test_fixture_helpers_are_deterministic_and_decode() -> None:
    assert jpeg_bytes(4, (100, 80), 70) == encode(generate(4, (100, 80)), "JPEG", 70)
    assert decode(png_bytes(4, (100, 80))).tobytes() == benign_image(4, (100, 80)).tobytes()

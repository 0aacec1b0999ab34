"""Unit tests for the hash algorithms against their reference implementations.

pHash and dHash must equal the ``imagehash`` library bit for bit, and PDQ must equal the
``pdqhash`` bindings of Meta's C++ code, written in Meta's hex format. All images are benign and
generated: ``tests/unit/hashing/synthetic.py`` photos, plus a few formula-made arrays below.
"""

from __future__ import annotations

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from hashing.algorithms import dhash_hex, pdq_hex, phash_hex
from hashing.base import MediaInput, hamming_hex, hex_to_bits
from hashing.registry import get
from tests.unit.hashing.synthetic import encode, photo


def varied_images() -> list[Image.Image]:
    """60 images: varied sizes and aspect ratios, in the modes imagehash sees in the wild."""
    images = []
    for seed in range(60):
        size = (24 + (seed * 37) % 700, 24 + (seed * 53) % 500)
        image = photo(seed, size, noise=float(seed % 7))
        mode = ("RGB", "L", "RGBA", "P", "RGB", "CMYK")[seed % 6]
        images.append(image if mode == "RGB" else image.convert(mode))
    return images


VARIED = varied_images()


@pytest.mark.parametrize("index", range(len(VARIED)))
def test_phash_equals_imagehash(index: int) -> None:
    image = VARIED[index]
    assert phash_hex(image) == str(imagehash.phash(image))


@pytest.mark.parametrize("index", range(len(VARIED)))
def test_dhash_equals_imagehash(index: int) -> None:
    image = VARIED[index]
    assert dhash_hex(image) == str(imagehash.dhash(image))


def test_registered_phash_with_its_reducing_gap_stays_next_to_imagehash() -> None:
    # The stage's pHash trades the exact resize for a faster one; on these images that moved one
    # hash by 2 bits. A gap that moved hashes further would break matching against imagehash lists.
    from hashing.decode import Raster

    phash = get("phash")
    distances = [hamming_hex(phash.hash_raster(Raster.plain(image.convert("L"))).value, str(imagehash.phash(image)))
                 for image in VARIED]
    assert sum(d == 0 for d in distances) >= 55 and max(distances) <= 4, distances


def formula_image() -> np.ndarray:
    # Integer arithmetic only, so the pixels are the same on every platform and numpy version.
    y, x = np.mgrid[0:96, 0:128]
    channels = [(x * 2 + y) % 256, (x * y // 8) % 256, (255 - x - y) % 256]
    return np.stack(channels, axis=-1).astype(np.uint8)


def test_pdq_equals_pdqhash_in_meta_hex_format() -> None:
    for rgb in [formula_image()] + [np.asarray(photo(s, (300 + s, 200))) for s in range(5)]:
        vector, quality = pdqhash.compute(rgb)
        value, our_quality = pdq_hex(rgb)
        assert our_quality == quality
        # python-threatexchange's convention: the vector's bits, in order, read as one binary
        # number, printed as 64 hex digits
        assert value == format(int("".join(str(int(b)) for b in vector), 2), "064x")
        # Meta's Hash256 view: sixteen 16-bit words printed w[15] first; bit k lives in
        # w[k // 16] at k % 16, and pdqhash's vector element i is bit 255 - i.
        words = [int(value[i : i + 4], 16) for i in range(0, 64, 4)][::-1]
        for k in range(256):
            assert (words[k // 16] >> (k % 16)) & 1 == vector[255 - k]
        assert hex_to_bits(value).tolist() == [int(b) for b in vector]


def test_pdq_pinned_vector() -> None:
    # Regression pin computed with pdqhash 0.2.8 on formula_image(); not a published vector
    # (Meta's published test vectors are hashes of photos we may not ship).
    assert pdq_hex(formula_image()) == (
        "d369a24964cb888a11aa2556c2958da53b6de4c9ab9b4e33f0e3078e7c5ac7f6",
        100,
    )


def test_pdq_through_media_input_is_pdqhash_on_the_decoded_luma() -> None:
    # A photo no larger than the working size survives PNG and decoding pixel for pixel; the
    # working image is its 8-bit luma, so PDQ equals pdqhash on that luma as an RGB array, and
    # differs from pdqhash on the colour array only by luma rounding.
    image = photo(11, (480, 360))
    media = MediaInput(encode(image, "PNG"))
    value = get("pdq").compute(media)
    assert np.array_equal(np.asarray(media.image), np.asarray(image.convert("L")))
    gray = np.repeat(np.asarray(media.image)[:, :, None], 3, axis=2)
    vector, quality = pdqhash.compute(gray)
    assert value.value == format(int("".join(str(int(b)) for b in vector), 2), "064x")
    assert value.quality == quality
    colour = pdqhash.compute(np.asarray(image))[0]
    assert hamming_hex(value.value, format(int("".join(str(int(b)) for b in colour), 2), "064x")) <= 4


def test_pdq_reports_low_quality_for_a_flat_image() -> None:
    value = get("pdq").compute(MediaInput(encode(Image.new("RGB", (200, 200), "gray"), "PNG")))
    assert value.quality is not None and value.quality < 50
    assert len(value.value) == 64


def test_pdq_rejects_arrays_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError):
        pdq_hex(np.zeros((8, 8), dtype=np.uint8))

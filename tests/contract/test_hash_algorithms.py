"""Contract kit for hash algorithms: every class in ``hashing.registry.ALGORITHMS`` runs all of it.

Registering an algorithm is enough to enrol it: the tests are parametrised over the registry,
and split by declared ability (exact or perceptual). Test images are benign, generated from a
seed by ``tests/unit/hashing/synthetic.py`` (gradients, random shapes, a little noise).
"""

from __future__ import annotations

import string

import pytest
from PIL import Image

from core.messages import HashValue
from hashing.base import Ability, HashAlgorithm, MediaInput, hamming_hex
from hashing.decode import MediaDecodeError
from hashing.registry import ALGORITHMS
from tests.unit.hashing.synthetic import encode, photo

# Names are storage keys and versions say which stored hashes are comparable: a rename, a new
# algorithm or a version bump must be a deliberate edit of this table.
PINNED = {
    "md5": (1, 128),
    "sha1": (1, 160),
    "sha256": (1, 256),
    "pdq": (1, 256),
    "phash": (1, 64),
    "dhash": (1, 64),
}

ALL = sorted(ALGORITHMS)
EXACT = sorted(n for n, a in ALGORITHMS.items() if Ability.EXACT in a.abilities)
PERCEPTUAL = sorted(n for n, a in ALGORITHMS.items() if Ability.PERCEPTUAL in a.abilities)
SEEDS = range(6)


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    # 640x480: PDQ is markedly less stable under a 0.5x resize of much smaller images
    return [photo(seed, (640, 480)) for seed in SEEDS]


@pytest.fixture(scope="module")
def png_bodies(photos: list[Image.Image]) -> list[bytes]:
    return [encode(p, "PNG") for p in photos]


def run(name: str, data: bytes) -> HashValue:
    return ALGORITHMS[name]().compute(MediaInput(data))


def test_registry_matches_pinned_table() -> None:
    assert {n: (a.version, a.bits) for n, a in ALGORITHMS.items()} == PINNED


@pytest.mark.parametrize("name", ALL)
def test_declares_itself(name: str) -> None:
    algorithm = ALGORITHMS[name]
    assert issubclass(algorithm, HashAlgorithm)
    assert algorithm.name == name
    # Names are hand-written storage keys, not class names that a refactor could change.
    assert algorithm.name == algorithm.name.lower().strip()
    assert algorithm.bits > 0 and algorithm.bits % 8 == 0
    assert algorithm.version >= 1
    # exactly one of the two kinds, so the pipeline knows whether to decode
    assert (Ability.EXACT in algorithm.abilities) != (Ability.PERCEPTUAL in algorithm.abilities)


@pytest.mark.parametrize("name", ALL)
def test_value_is_deterministic_lowercase_hex_of_declared_width(name: str, png_bodies: list[bytes]) -> None:
    algorithm = ALGORITHMS[name]
    for body in png_bodies[:3]:
        first, second = run(name, body), run(name, body)
        assert first == second
        assert first.algorithm == name and first.version == algorithm.version
        assert len(first.value) == algorithm.bits // 4
        assert set(first.value) <= set(string.hexdigits.lower())
        if Ability.QUALITY in algorithm.abilities:
            assert first.quality is not None and 0 <= first.quality <= 100
        else:
            assert first.quality is None


@pytest.mark.parametrize("name", EXACT)
def test_exact_changes_with_one_byte_and_never_decodes(name: str, png_bodies: list[bytes]) -> None:
    body = png_bodies[0]
    changed = bytearray(body)
    changed[len(changed) // 2] ^= 0x01
    assert run(name, body).value != run(name, bytes(changed)).value
    media = MediaInput(b"\x00not an image at all")
    ALGORITHMS[name]().compute(media)
    assert not media.decode_attempted


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_perceptual_survives_jpeg_recompression(name: str, photos: list[Image.Image], png_bodies: list[bytes]) -> None:
    near = ALGORITHMS[name].bits // 16
    for image, body in zip(photos, png_bodies, strict=True):
        original = run(name, body).value
        recompressed = run(name, encode(image, "JPEG", quality=70)).value
        assert hamming_hex(original, recompressed) <= near


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_perceptual_survives_half_size(name: str, photos: list[Image.Image], png_bodies: list[bytes]) -> None:
    near = ALGORITHMS[name].bits // 16
    for image, body in zip(photos, png_bodies, strict=True):
        half = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
        assert hamming_hex(run(name, body).value, run(name, encode(half, "PNG")).value) <= near


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_perceptual_tells_unrelated_images_apart(name: str, png_bodies: list[bytes]) -> None:
    far = ALGORITHMS[name].bits // 4
    values = [run(name, body).value for body in png_bodies]
    for i, a in enumerate(values):
        for b in values[i + 1 :]:
            assert hamming_hex(a, b) > far


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_perceptual_hashes_all_eight_orientations(name: str, photos: list[Image.Image]) -> None:
    image = photos[0]
    variants = [image] + [image.transpose(t) for t in Image.Transpose]
    values = {run(name, encode(v, "BMP")).value for v in variants}
    assert all(len(v) == ALGORITHMS[name].bits // 4 for v in values)
    # a rotation or flip is a different picture to these hashes (matching them is the
    # matcher's job, by hashing the query's variants), so they must not all collapse to one
    assert len(values) > 1


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_perceptual_refuses_undecodable_bytes(name: str) -> None:
    with pytest.raises(MediaDecodeError):
        run(name, b"")

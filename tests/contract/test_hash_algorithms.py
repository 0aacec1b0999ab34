"""Contract kit for hash algorithms: every class in ``hashing.registry.ALGORITHMS`` runs all of it.

Registering an algorithm is enough to enrol it: the tests are parametrised over the registry,
and split by declared ability (exact or perceptual): declarations, round trips, batch equals
one by one (failures as data), the empty cases, robustness, and the eight rotations and flips.
Test images are benign, generated from a seed by ``tests/unit/hashing/synthetic.py``
(gradients, random shapes, a little noise).
"""

from __future__ import annotations

import hashlib
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from core.messages import HashedMedia, HashValue, MediaRef, decode
from core.messages import encode as encode_message
from hashing.base import (
    TRANSPOSITIONS,
    Ability,
    HashAlgorithm,
    MediaInput,
    PerceptualHash,
    bits_to_hex,
    hamming_hex,
    hex_to_bits,
    hex_to_codes,
)
from hashing.decode import MediaDecodeError, Raster, transpose_raster
from hashing.pdq import Dihedral
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
REF = MediaRef(campaign_id="c", page_url="http://h.test/", media_url="http://h.test/a.jpg",
               final_url="http://h.test/a.jpg", fetched_at=datetime(2026, 1, 1, tzinfo=UTC))


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
def test_spec_agrees_with_the_hashes_it_produces(name: str, png_bodies: list[bytes]) -> None:
    # The spec is all the matcher, list import and the API know of an algorithm: it must hold.
    algorithm = ALGORITHMS[name]
    assert type(algorithm.version) is int and algorithm.version >= 1
    assert algorithm.is_perceptual() == (Ability.PERCEPTUAL in algorithm.abilities)
    value = run(name, png_bodies[0]).value
    assert len(hex_to_bits(value)) == algorithm.bits == algorithm.hex_len() * 4
    assert algorithm.parse_hex(f" {value.upper()}\n") == value
    for bad in (value[:-1], value + "0", "g" + value[1:], "", value[:-2] + " 0"):
        with pytest.raises(ValueError, match=name):
            algorithm.parse_hex(bad)
    assert hex_to_codes([value], bits=algorithm.bits).shape == (1, algorithm.bits // 8)


@pytest.mark.parametrize("name", ALL)
def test_kind_agrees_with_distances_and_thresholds(
    name: str, photos: list[Image.Image], png_bodies: list[bytes]
) -> None:
    # A perceptual hash finds a recompressed copy within its own review threshold and keeps
    # unrelated images beyond it; an exact one changes about half its bits for one byte.
    algorithm = ALGORITHMS[name]
    if not algorithm.is_perceptual():
        assert algorithm.thresholds is None
        changed = bytearray(png_bodies[0])
        changed[len(changed) // 2] ^= 0x01
        assert hamming_hex(run(name, png_bodies[0]).value, run(name, bytes(changed)).value) > algorithm.bits // 4
        return
    assert algorithm.thresholds is not None
    match, review = algorithm.thresholds
    assert 0 <= match <= review <= algorithm.bits
    values = [run(name, body).value for body in png_bodies]
    for image, value in zip(photos, values, strict=True):
        assert hamming_hex(value, run(name, encode(image, "JPEG", quality=70)).value) <= review
    for i, a in enumerate(values):
        for b in values[i + 1 :]:
            assert hamming_hex(a, b) > review


@pytest.mark.parametrize("name", ALL)
def test_lists_and_the_matcher_take_it(name: str, png_bodies: list[bytes], tmp_path: Path) -> None:
    # Registered is enough: a list names it, import records its version, the matcher finds it.
    from core.store import Store
    from matcher.engine import Matcher
    from matcher.hashsets import export_entries, import_entries
    from matcher.lists import parse_hash_list
    from matcher.settings import MatcherSettings

    algorithm = ALGORITHMS[name]
    value = run(name, png_bodies[0]).value
    store = Store(f"sqlite:///{tmp_path}/s.db")
    store.migrate()
    try:
        parsed = parse_hash_list(f"{name.upper()}:{value}\n")
        assert not parsed.errors
        import_entries(store, "known", parsed.entries)
        assert [(e.algorithm, e.version) for e in export_entries(store, "known")] == [(name, algorithm.version)]
        matcher = Matcher(store, MatcherSettings())
        matcher.load()
        (outcome,) = matcher.evaluate_many([[run(name, png_bodies[0])]])
        assert [(h.algorithm, h.distance) for h in outcome.hits] == [(name, 0)]
        assert outcome.verdict.decision == "match"
    finally:
        store.dispose()


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


# --- batches, empty input, round trips, rotations and flips ---------------------------------


@pytest.mark.parametrize("name", ALL)
def test_batch_equals_one_by_one_with_failures_as_data(name: str, png_bodies: list[bytes]) -> None:
    bodies = [png_bodies[0], b"", b"<html>not an image</html>", png_bodies[1], png_bodies[0][:200], png_bodies[2]]
    algorithm = ALGORITHMS[name]()
    batch = algorithm.compute_batch([MediaInput(b) for b in bodies])
    assert len(batch) == len(bodies)
    for body, result in zip(bodies, batch, strict=True):
        try:
            expected: HashValue | str = algorithm.compute(MediaInput(body))
        except MediaDecodeError as exc:
            expected = exc.reason
        assert (result.reason if isinstance(result, MediaDecodeError) else result) == expected


@pytest.mark.parametrize("name", ALL)
def test_empty_batch_and_empty_body(name: str) -> None:
    algorithm = ALGORITHMS[name]()
    assert algorithm.compute_batch([]) == []
    if Ability.EXACT in algorithm.abilities:
        assert algorithm.compute(MediaInput(b"")).value == hashlib.new(name, b"").hexdigest()
    else:
        with pytest.raises(MediaDecodeError, match=r"^empty: "):
            algorithm.compute(MediaInput(b""))


@pytest.mark.parametrize("name", ALL)
def test_value_round_trips_through_bits_and_the_bus(name: str, png_bodies: list[bytes]) -> None:
    value = run(name, png_bodies[0])
    assert bits_to_hex(hex_to_bits(value.value)) == value.value
    assert hex_to_bits(value.value).size == ALGORITHMS[name].bits
    tagged = value.model_copy(update={"variant": "pdq-dihedral:rot90"})
    message = HashedMedia(ref=REF, sha256="0" * 64, size=1, hashes=[value, tagged])
    assert decode(encode_message(message)) == message


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_perceptual_batch_of_rasters_equals_one_by_one(name: str, photos: list[Image.Image]) -> None:
    algorithm = ALGORITHMS[name]()
    assert isinstance(algorithm, PerceptualHash)
    rasters = [Raster.plain(p) for p in photos]
    assert algorithm.hash_rasters(rasters) == [algorithm.hash_raster(r) for r in rasters]
    assert algorithm.hash_rasters([]) == []


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_perceptual_rotations_and_flips_hash_the_transposed_image(name: str, photos: list[Image.Image]) -> None:
    algorithm = ALGORITHMS[name]()
    assert isinstance(algorithm, PerceptualHash)
    raster = Raster.plain(photos[1])
    turned = algorithm.dihedral(raster)
    assert list(turned) == list(Dihedral)
    plain = algorithm.hash_raster(raster).value
    # Native implementations (PDQ: from the DCT, as Meta's reference does) may differ from
    # hashing the transposed image by sampling-grid rounding; by transposition they are equal.
    near = ALGORITHMS[name].bits // 8 if Ability.DIHEDRAL in algorithm.abilities else 0
    for turn, value in turned.items():
        direct = algorithm.hash_raster(transpose_raster(raster, TRANSPOSITIONS[turn])).value
        assert hamming_hex(value.value, direct) <= near, turn
        assert hamming_hex(value.value, plain) > ALGORITHMS[name].bits // 8, turn

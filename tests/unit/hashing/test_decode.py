"""Unit tests for safe decoding: formats, reduced decoding, orientation, animations, bad input, variants.

Every input is benign and generated here: ``synthetic.photo`` images saved through Pillow in
each format, hand-built PNG headers for decompression bombs, random bytes from a seeded
generator, and a literal HTML page.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, features

from hashing.algorithms import pdq_hex
from hashing.base import hamming_hex
from hashing.decode import (
    DecodeFailure,
    DecodeLimits,
    MediaDecodeError,
    decode_bytes,
    decode_image,
)
from hashing.hasher import HashPlan, compute_hashes
from hashing.pdq import Axis
from tests.fixtures.bombs import deep_png, float_tiff
from tests.unit.hashing.synthetic import encode, photo

UPRIGHT = photo(3, (640, 480))


def pdq_of(data: bytes) -> str:
    outcome = compute_hashes(data, algorithms=["pdq"])
    assert outcome.errors == []
    return outcome.plain[0].value


def trimmed_pdq_of(data: bytes) -> str:
    outcome = compute_hashes(data, algorithms=["pdq"])
    assert outcome.errors == []
    return next(h.value for h in outcome.hashes if h.variant == "trimmed")


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims ``width`` x ``height`` and whose data is tiny."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


FORMATS = [
    ("JPEG", {"quality": 90}),
    ("PNG", {}),
    ("GIF", {}),
    ("WEBP", {"quality": 90}),
    ("BMP", {}),
    ("TIFF", {}),
]


@pytest.mark.parametrize(("fmt", "params"), FORMATS)
def test_every_format_decodes_and_hashes_like_the_original(fmt: str, params: dict[str, int]) -> None:
    decoded = decode_image(encode(UPRIGHT, fmt, **params))
    assert decoded.image.mode == "L"
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == UPRIGHT.size
    # 480 // 192 = 2: JPEG's DCT scaling 1/2, the others reduce by 2
    assert decoded.image.size == (320, 240)
    assert decoded.raster.rows == Axis(480, 2) and decoded.raster.cols == Axis(640, 2)
    # GIF's 256-colour palette is the lossiest of these
    assert hamming_hex(pdq_of(encode(UPRIGHT, "PNG")), pdq_of(encode(UPRIGHT, fmt, **params))) <= 16


@pytest.mark.parametrize(("fmt", "params"), FORMATS)
def test_every_format_is_decoded_reduced_when_large(fmt: str, params: dict[str, int]) -> None:
    big = UPRIGHT.resize((1600, 1200), Image.Resampling.BICUBIC)
    data = encode(big, fmt, **params)
    decoded = decode_image(data)
    # 1200 // 192 = 6: JPEG's DCT scaling has 1/4 as the nearest step down, the others reduce by 6
    factor = 4 if fmt == "JPEG" else 6
    assert decoded.image.size == (-(-1600 // factor), 1200 // factor)
    assert decoded.raster.rows == Axis(1200, factor) and decoded.raster.cols == Axis(1600, factor)
    # still close to Meta's reference on the full picture
    assert hamming_hex(pdq_of(data), pdq_hex(np.asarray(big))[0]) <= 16
    small = decode_image(data, DecodeLimits(working_size=100))
    assert 100 <= min(small.image.size) < 200


@pytest.mark.parametrize(("fmt", "params"), [("GIF", {}), ("WEBP", {"lossless": True})])
def test_animation_hashes_its_first_frame_and_samples_the_others(fmt: str, params: dict[str, bool]) -> None:
    frames = [photo(20 + i, (320, 240)) for i in range(5)]
    # 0.6 s a frame, a sample at least 1 s after the last: frames 2 (1.2 s) and 4 (2.4 s);
    # frame 0 is the image's own hash
    animated = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=600, loop=0, **params)
    assert decode_image(animated).animated
    outcome = compute_hashes(animated, algorithms=["pdq"])
    assert outcome.errors == []
    own = outcome.plain[0].value
    assert hamming_hex(own, pdq_of(encode(frames[0], "PNG"))) <= 16
    sampled = {h.variant: h.value for h in outcome.hashes if h.variant.startswith("frame@")}
    assert list(sampled) == ["frame@1.2s", "frame@2.4s"]
    assert hamming_hex(sampled["frame@1.2s"], pdq_of(encode(frames[2], "PNG"))) <= 16
    assert hamming_hex(sampled["frame@2.4s"], pdq_of(encode(frames[4], "PNG"))) <= 16
    assert hamming_hex(own, sampled["frame@1.2s"]) > 64


def test_animation_sampling_stops_at_its_frame_cap() -> None:
    frames = [photo(40 + i, (96, 64)) for i in range(12)]
    animated = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=1000)
    plan = HashPlan(algorithms=("pdq",), dihedral=False, variants=False, animation_max_frames=3)
    outcome = compute_hashes(animated, plan=plan)
    assert [h.variant for h in outcome.hashes] == ["", "frame@1.0s", "frame@2.0s", "frame@3.0s"]


def test_a_still_gif_has_no_frames() -> None:
    data = encode(UPRIGHT, "GIF")
    assert not decode_image(data).animated
    assert not [h for h in compute_hashes(data, algorithms=["pdq"]).hashes if h.variant.startswith("frame@")]


_UNDO = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(orientation: int, fmt: str) -> None:
    # The upright picture stored the way a camera writes it with this tag: the tag names the
    # transposition that brings it back upright.
    upright = UPRIGHT.resize((1280, 960), Image.Resampling.BICUBIC)
    stored = upright if orientation == 1 else upright.transpose(_UNDO[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    params = {"quality": 92} if fmt == "JPEG" else {}
    tagged = encode(stored, fmt, exif=exif.tobytes(), **params)
    # 960 // 192 = 5: JPEG's DCT scaling 1/4, PNG reduced by 5
    assert decode_image(tagged).image.size == ((320, 240) if fmt == "JPEG" else (256, 192))
    # Meta's reference on the full upright picture: the axes followed the transposition
    assert hamming_hex(pdq_of(tagged), pdq_hex(np.asarray(upright))[0]) <= 10
    if orientation in {5, 6, 7, 8}:
        # without the tag the same pixels are a different picture to PDQ
        assert hamming_hex(pdq_of(encode(stored, fmt, **params)), pdq_of(tagged)) > 64


def test_a_broken_exif_block_leaves_the_image_as_stored() -> None:
    data = encode(UPRIGHT, "JPEG", quality=90, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    assert decode_image(data).image.size == (320, 240)


def test_avif_decodes_where_pillow_has_the_codec_and_is_unsupported_elsewhere() -> None:
    if features.check("avif"):
        data = encode(UPRIGHT, "AVIF", quality=80)
        assert decode_image(data).format == "AVIF"
        assert hamming_hex(pdq_of(data), pdq_of(encode(UPRIGHT, "PNG"))) <= 16
    else:
        data = b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00"
        with pytest.raises(MediaDecodeError, match=r"^unsupported: AVIF"):
            decode_image(data)


def _on_white(image: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", image.size, (255, 255, 255))
    canvas.paste(image, mask=image.getchannel("A"))
    return canvas


def test_modes_are_converted_to_gray() -> None:
    base = photo(5, (200, 150))
    translucent = base.copy()
    translucent.putalpha(Image.linear_gradient("L").resize(base.size))
    deep = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    cases = {
        "P": encode(base.convert("P"), "PNG"),
        "L": encode(base.convert("L"), "PNG"),
        "1": encode(base.convert("1"), "PNG"),
        "LA": encode(translucent.convert("LA"), "PNG"),
        "RGBA": encode(translucent, "PNG"),
        "CMYK": encode(base.convert("CMYK"), "JPEG", quality=95),
        "I;16": encode(deep, "PNG"),
    }
    for mode, data in cases.items():
        image = decode_image(data).image
        assert image.mode == "L", mode
        assert image.size == base.size, mode
    rgba = np.asarray(decode_image(cases["RGBA"]).image, dtype=np.int16)
    expected = np.asarray(_on_white(translucent).convert("L"), dtype=np.int16)
    assert np.abs(rgba - expected).max() <= 1  # composited on white, not on black
    gray16 = np.asarray(decode_image(cases["I;16"]).image, dtype=np.int16)
    assert np.abs(gray16 - np.asarray(base.convert("L"), dtype=np.int16)).max() <= 1


def test_fully_transparent_palette_pixels_become_white() -> None:
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.info["transparency"] = 0
    assert decode_image(encode(image, "PNG")).image.getpixel((5, 5)) == 255


JPEG = encode(UPRIGHT, "JPEG", quality=90)
PNG = encode(UPRIGHT, "PNG")


@pytest.mark.parametrize(
    ("data", "limits", "code"),
    [
        pytest.param(b"", None, DecodeFailure.EMPTY, id="empty"),
        pytest.param(JPEG[: len(JPEG) // 2], None, DecodeFailure.CORRUPT, id="truncated-jpeg"),
        pytest.param(JPEG[:200], None, DecodeFailure.CORRUPT, id="jpeg-header-only"),
        pytest.param(PNG[: len(PNG) // 2], None, DecodeFailure.CORRUPT, id="truncated-png"),
        pytest.param(encode(UPRIGHT, "GIF")[:300], None, DecodeFailure.CORRUPT, id="truncated-gif"),
        pytest.param(encode(UPRIGHT, "WEBP")[:300], None, DecodeFailure.CORRUPT, id="truncated-webp"),
        pytest.param(encode(UPRIGHT, "BMP")[:200], None, DecodeFailure.CORRUPT, id="truncated-bmp"),
        pytest.param(encode(UPRIGHT, "TIFF")[:300], None, DecodeFailure.CORRUPT, id="truncated-tiff"),
        pytest.param(np.random.default_rng(1).bytes(4096), None, DecodeFailure.NOT_AN_IMAGE, id="random"),
        pytest.param(
            b"<!DOCTYPE html>\n<html><head><title>Not found</title></head><body></body></html>",
            None,
            DecodeFailure.NOT_AN_IMAGE,
            id="html",
        ),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", None, DecodeFailure.NOT_AN_IMAGE, id="pdf"),
        pytest.param(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", None, DecodeFailure.UNSUPPORTED, id="heic"),
        pytest.param(png_header_only(100_000, 100_000), None, DecodeFailure.DECOMPRESSION_BOMB, id="bomb"),
        # between Pillow's warning and error thresholds: its warning must become our error
        pytest.param(png_header_only(10_000, 9_500), None, DecodeFailure.DECOMPRESSION_BOMB, id="bomb-warn"),
        # a real, small file whose dimensions exceed a (lowered) pixel limit
        pytest.param(PNG, DecodeLimits(max_pixels=100_000), DecodeFailure.DECOMPRESSION_BOMB, id="pixels"),
        pytest.param(PNG, DecodeLimits(max_bytes=1024), DecodeFailure.TOO_LARGE, id="too-large"),
        pytest.param(b"GIF89a\x00", None, DecodeFailure.CORRUPT, id="gif-magic-only"),
    ],
)
def test_bad_input_gets_a_coded_reason_and_still_its_exact_hashes(
    data: bytes, limits: DecodeLimits | None, code: DecodeFailure
) -> None:
    with pytest.raises(MediaDecodeError) as caught:
        decode_image(data, limits)
    assert caught.value.code is code
    assert caught.value.reason.startswith(f"{code}: ")
    outcome = compute_hashes(data, limits=limits)
    assert outcome.errors == [caught.value.reason]
    assert {h.algorithm: h.value for h in outcome.hashes} == {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_video_is_not_decoded_as_an_image() -> None:
    with pytest.raises(MediaDecodeError, match=r"^unsupported: MP4 video, not an image"):
        decode_image(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00")


def test_truncated_jpeg_reason_says_so() -> None:
    outcome = compute_hashes(JPEG[: len(JPEG) // 2])
    assert outcome.errors[0].startswith("corrupt: image file is truncated")


def test_the_time_limit_becomes_a_timeout_error_with_the_exact_hashes_kept() -> None:
    # a budget spent before the first step: every perceptual hash is refused, none hangs
    outcome = compute_hashes(JPEG, limits=DecodeLimits(time_limit_s=1e-9))
    assert len(outcome.errors) == 1 and outcome.errors[0].startswith("timeout: over the 1e-09 s limit before ")
    assert [h.algorithm for h in outcome.hashes] == ["md5", "sha1", "sha256"]


@pytest.mark.parametrize("fill", [(0, 0, 0), (255, 255, 255), (40, 90, 200)])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_border_trim_variant_recovers_a_padded_image(fill: tuple[int, int, int], fmt: str) -> None:
    # A 10% solid border on every side. The plain hash is of the image as given (far from the
    # original); the "trimmed" variant (hashing/variants.py) finds the original again.
    original = photo(1, (640, 480))
    padded = ImageOps.expand(original, border=(64, 48), fill=fill)
    data = encode(padded, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    reference = pdq_of(encode(original, "PNG"))
    assert hamming_hex(trimmed_pdq_of(data), reference) <= 16
    assert hamming_hex(pdq_of(data), reference) > 64
    # the plain hash is Meta's PDQ of the padded file, within the interoperability budget
    assert hamming_hex(pdq_of(data), pdq_hex(np.asarray(padded.convert("RGB")))[0]) <= 10


@pytest.mark.parametrize("quality", [45, 58, 70])
def test_border_trim_survives_jpeg_ringing(quality: int) -> None:
    # A thin saturated border, then heavy recompression: the lines next to the picture ring.
    original = photo(3, (512, 384))
    padded = ImageOps.expand(original, border=(20, 15), fill=(39, 208, 42))
    data = encode(padded, "JPEG", quality=quality)
    reference = pdq_of(encode(original, "PNG"))
    assert hamming_hex(trimmed_pdq_of(data), reference) <= 31  # the match radius


def test_decode_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        DecodeLimits(max_bytes=0)
    with pytest.raises(ValueError):
        DecodeLimits(working_size=8)
    with pytest.raises(ValueError):
        DecodeLimits(time_limit_s=0)


# A child process decodes the files, so its peak RSS is the decode's alone (this test process has
# done much else). It prints its peak before and after, in kB, and each outcome's code.
_MEASURE = """
import json, resource, sys
from hashing.decode import MediaDecodeError, decode_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
codes = []
for path in sys.argv[1:]:
    try:
        decode_image(open(path, "rb").read())
        codes.append("decoded")
    except MediaDecodeError as exc:
        codes.append(exc.reason)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "codes": codes}))
"""


def test_deep_images_over_the_byte_budget_are_refused_before_decoding(tmp_path: Path) -> None:
    # tests/fixtures/bombs.py: 8000 x 8000 (64 M pixels, under the pixel limit) of zeros, deflated:
    # a 16-bit PNG of ~125 kB and a float32 TIFF of ~250 kB. Decoded, 128 and 256 MB, and then
    # a float64 copy each; before the byte budget they peaked at 2 GB or more.
    png, tiff = tmp_path / "deep.png", tmp_path / "float.tif"
    png.write_bytes(deep_png(8000, 8000))
    tiff.write_bytes(float_tiff(8000, 8000))
    assert png.stat().st_size < 200_000 and tiff.stat().st_size < 300_000
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(png), str(tiff)], capture_output=True, text=True,
                            timeout=300, check=True)
    measured = json.loads(result.stdout)
    assert [c.split(":")[0] for c in measured["codes"]] == [DecodeFailure.DECOMPRESSION_BOMB] * 2, measured
    assert "I;16 needs about 640000000 bytes > limit 320000000" in measured["codes"][0]
    assert "F needs about 768000000 bytes > limit 320000000" in measured["codes"][1]
    # Refused from the header: the peak grew by less than one decoded image would take (128 MB).
    assert measured["after_kb"] - measured["before_kb"] < 32 * 1024, measured


def test_deep_images_within_the_byte_budget_still_decode() -> None:
    small = deep_png(600, 400)
    assert decode_bytes("I;16", 600, 400) == 600 * 400 * 10
    assert decode_image(small, DecodeLimits(max_decode_bytes=600 * 400 * 10)).image.size == (300, 200)
    with pytest.raises(MediaDecodeError, match="decompression-bomb: decoding 600x400 I;16 needs about"):
        decode_image(small, DecodeLimits(max_decode_bytes=600 * 400 * 10 - 1))

"""Hashing stage, first step: untrusted fetched bytes to one safe RGB image, or a coded failure.

Everything here assumes hostile input. In order, :func:`decode_image`:

1. rejects empty bodies and bodies over the byte limit;
2. sniffs the magic bytes, so HTML served as ``image/jpeg`` is "not-an-image" and formats we do
   not decode (HEIC, JPEG XL, ICO, SVG, PSD; AVIF where Pillow lacks the codec) are
   "unsupported"; only the matching Pillow plugin may open the bytes (JPEG, PNG, GIF, WebP, BMP,
   TIFF, AVIF): Pillow has many rarely used decoders, and none of them gets to see web bytes;
3. reads only the header and checks the pixel count against the limit *before* decoding
   (Pillow's own decompression-bomb warning or error becomes our error, never a warning);
4. for JPEG, asks the decoder for a reduced-size DCT decode (``draft``), since no hash here needs
   more than the working size;
5. decodes the first frame (animated GIF/WebP: frame 0), applies the EXIF orientation, converts
   any mode to 8-bit RGB (transparency composited on white, 16-bit scaled down), and shrinks the
   result with an area filter so its longest side is at most the working size.

:func:`preprocess` is the canonical preprocessing before perceptual hashing: it trims uniform
borders (letterbox bars, padding), because padded re-uploads are common. An image without such
borders comes back unchanged (the same object), so PDQ of a borderless image equals
``pdqhash.compute`` on the decoded array. Changing either function changes hashes: bump the
``version`` of every perceptual algorithm when you do.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError, features

from core.errors import PermanentError

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_PIXELS = 80_000_000
"""About 10000 x 8000; keep it at or below Pillow's ``Image.MAX_IMAGE_PIXELS`` (~89.5 M)."""
DEFAULT_WORKING_SIZE = 512
"""Longest side of the decoded image: PDQ downsamples to 64x64 anyway and Meta's reference
tools hash at 512 px; pHash needs 32x32."""


class DecodeFailure(StrEnum):
    """Stable codes that open every decode failure reason (they are counted and stored)."""

    EMPTY = "empty"
    TOO_LARGE = "too-large"
    DECOMPRESSION_BOMB = "decompression-bomb"
    NOT_AN_IMAGE = "not-an-image"
    CORRUPT = "corrupt"
    UNSUPPORTED = "unsupported"


class MediaDecodeError(PermanentError):
    """The bytes are not an image this stage can decode; ``reason`` is ``"<code>: <detail>"``.

    Attributes:
        code: The :class:`DecodeFailure` that opens the reason.
    """

    def __init__(self, code: DecodeFailure, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


@dataclass(frozen=True)
class DecodeLimits:
    """What the decoder refuses to work on, and the size it hands on.

    Attributes:
        max_bytes: Largest body to decode.
        max_pixels: Largest width x height to decode (checked from the header, before decoding).
        working_size: Longest side of the decoded image; larger images are shrunk to it.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    working_size: int = DEFAULT_WORKING_SIZE

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0 or self.working_size < 32:
            raise ValueError("decode limits must be positive and working_size at least 32")


@dataclass(frozen=True)
class DecodedImage:
    """The decoded first frame and facts learnt on the way (safe to log: no pixels).

    Attributes:
        image: RGB, orientation corrected, longest side at most the working size.
        format: Pillow's name of the container format, e.g. ``"JPEG"``.
        width: Stored width in pixels, before orientation and shrinking.
        height: Stored height in pixels, before orientation and shrinking.
        animated: Whether the file holds more than one frame (only the first is hashed).
    """

    image: Image.Image
    format: str
    width: int
    height: int
    animated: bool


def _is_avif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in {b"avif", b"avis"}


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in {
        b"heic",
        b"heix",
        b"heim",
        b"heis",
        b"hevc",
        b"hevx",
        b"mif1",
        b"msf1",
    }


# (test on the first bytes, Pillow plugins allowed to open them). Order matters only where one
# signature is a prefix of another; none is.
_DECODABLE: tuple[tuple[Callable[[bytes], bool], tuple[str, ...]], ...] = (
    # MPO is how Pillow opens camera JPEGs that carry extra preview frames
    (lambda h: h.startswith(b"\xff\xd8\xff"), ("JPEG", "MPO")),
    (lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), ("PNG",)),
    (lambda h: h[:6] in {b"GIF87a", b"GIF89a"}, ("GIF",)),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP", ("WEBP",)),
    (lambda h: h[:2] == b"BM", ("BMP",)),
    (lambda h: h[:4] in {b"II*\x00", b"MM\x00*"}, ("TIFF",)),
)

_UNSUPPORTED: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (_is_heif, "HEIF/HEIC"),
    (lambda h: h.startswith(b"\xff\x0a") or h[4:12] == b"JXL \r\n\x87\n", "JPEG XL"),
    (lambda h: h[:4] == b"\x00\x00\x01\x00", "ICO"),
    (lambda h: h.lstrip()[:5].lower() in {b"<svg ", b"<svg>"}, "SVG"),
    (lambda h: h[:4] == b"8BPS", "PSD"),
)

_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def _sniff(data: bytes) -> tuple[str, ...]:
    """Name the Pillow plugins that may open ``data``, judged by its magic bytes."""
    head = data[:64]
    for matches, plugins in _DECODABLE:
        if matches(head):
            return plugins
    if _is_avif(head):
        if features.check("avif"):
            return ("AVIF",)
        raise MediaDecodeError(DecodeFailure.UNSUPPORTED, "AVIF (this Pillow has no AVIF codec)")
    for matches, label in _UNSUPPORTED:
        if matches(head):
            raise MediaDecodeError(DecodeFailure.UNSUPPORTED, label)
    sample = data[:512].lstrip(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark still means text
    if sample and sum(b in _TEXT_BYTES for b in sample) >= 0.95 * len(sample):
        kind = "HTML" if sample.lstrip()[:1] == b"<" else "text"
        raise MediaDecodeError(DecodeFailure.NOT_AN_IMAGE, f"looks like {kind}")
    raise MediaDecodeError(DecodeFailure.NOT_AN_IMAGE, f"unknown signature {head[:8].hex()}")


def _pixel_limit(limits: DecodeLimits) -> int:
    # Pillow warns above its own limit and refuses above twice it; never let ours exceed it, so
    # that whatever Pillow would complain about we have already refused ourselves.
    pillow = Image.MAX_IMAGE_PIXELS
    return limits.max_pixels if pillow is None else min(limits.max_pixels, int(pillow))


def _open(data: bytes, plugins: tuple[str, ...], max_pixels: int) -> Image.Image:
    try:
        # catch_warnings swaps the process-wide filters (not thread-safe before Python 3.14);
        # if another thread races it, our own pixel check below still refuses the image.
        with warnings.catch_warnings():
            # The warning must not escape as a warning (callers run with warnings as errors,
            # and a warning would let the decode go ahead): raise it and convert it below.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(plugins))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaDecodeError(DecodeFailure.DECOMPRESSION_BOMB, str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise MediaDecodeError(DecodeFailure.CORRUPT, f"{plugins[0]} signature but unreadable header") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError) as exc:
        # Pillow's plugins report broken headers with a mix of built-in exception types.
        raise MediaDecodeError(DecodeFailure.CORRUPT, f"{type(exc).__name__}: {exc}") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaDecodeError(DecodeFailure.CORRUPT, f"header claims {width}x{height} pixels")
    if width * height > max_pixels:
        raise MediaDecodeError(
            DecodeFailure.DECOMPRESSION_BOMB,
            f"header claims {width}x{height} = {width * height} pixels > limit {max_pixels}",
        )
    return image


def _draft_size(width: int, height: int, working_size: int) -> tuple[int, int]:
    """Find the smallest size a JPEG draft may decode to and still cover the working size."""
    scale = working_size / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, int(np.ceil(width * scale))), max(1, int(np.ceil(height * scale)))


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    canvas = Image.new("RGB", rgba.size, (255, 255, 255))
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas


def _deep_gray_to_rgb(image: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer or float grayscale down to 8-bit RGB.

    Pillow's own ``convert("L")`` clips instead of scaling, which would turn most 16-bit
    images white.
    """
    values = np.asarray(image).astype(np.float64)
    top = float(values.max()) if values.size else 0.0
    if image.mode == "F" and top <= 1.0:
        values = values * 255.0
    elif image.mode.startswith("I;16") or (image.mode == "I" and top > 255):
        values = values / 257.0
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white.

    Raises:
        MediaDecodeError: ``unsupported`` for a mode Pillow cannot convert.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in {"RGBA", "RGBa", "LA", "La", "PA"} or (mode in {"P", "L", "RGB"} and "transparency" in image.info):
        return _on_white(image)
    if mode == "I" or mode == "F" or mode.startswith("I;16"):
        return _deep_gray_to_rgb(image)
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise MediaDecodeError(DecodeFailure.UNSUPPORTED, f"pixel mode {mode}") from exc


def _shrink(image: Image.Image, working_size: int) -> Image.Image:
    width, height = image.size
    longest = max(width, height)
    if longest <= working_size:
        return image
    scale = working_size / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # BOX averages whole source areas: right for shrinking, and no ringing for PDQ to hash
    return image.resize(size, Image.Resampling.BOX)


def decode_image(data: bytes, limits: DecodeLimits | None = None) -> DecodedImage:
    """Decode untrusted bytes into one RGB image no larger than the working size.

    Args:
        data: The fetched body.
        limits: Byte, pixel and size limits (defaults: :class:`DecodeLimits`).

    Returns:
        The first frame, orientation corrected, in RGB, longest side at most the working size.

    Raises:
        MediaDecodeError: With a reason that starts with a :class:`DecodeFailure` code.
    """
    limits = limits or DecodeLimits()
    if not data:
        raise MediaDecodeError(DecodeFailure.EMPTY, "no bytes")
    if len(data) > limits.max_bytes:
        raise MediaDecodeError(DecodeFailure.TOO_LARGE, f"{len(data)} bytes > limit {limits.max_bytes}")
    plugins = _sniff(data)
    image = _open(data, plugins, _pixel_limit(limits))
    width, height = image.size
    container = image.format or plugins[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if container in {"JPEG", "MPO"}:
                image.draft("RGB", _draft_size(width, height, limits.working_size))
            # Before load: it peeks one frame ahead and seeks back, which would drop the pixels
            # (n_frames would walk the whole animation).
            animated = bool(getattr(image, "is_animated", False))
            # The first frame only: for GIF/WebP animations it is the one that stands alone.
            image.load()
            # Orientation after load: it needs the pixels, and draft scales both sides alike.
            upright = _exif_transpose(image)
            rgb = to_rgb(upright)
    except MediaDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaDecodeError(DecodeFailure.DECOMPRESSION_BOMB, str(exc)) from exc
    except MemoryError as exc:
        raise MediaDecodeError(DecodeFailure.DECOMPRESSION_BOMB, "out of memory decoding") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError) as exc:
        raise MediaDecodeError(DecodeFailure.CORRUPT, f"{exc}") from exc
    return DecodedImage(
        image=_shrink(rgb, limits.working_size),
        format=container,
        width=width,
        height=height,
        animated=animated,
    )


def _exif_transpose(image: Image.Image) -> Image.Image:
    try:
        upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, IndexError, struct.error):
        # A broken EXIF block must not cost us the image: hash it as stored.
        return image
    return upright if upright is not None else image


# Canonical preprocessing: a border line is near-constant (every channel's standard deviation
# along it under _BORDER_STD) and close to the colour of the outermost line (every channel
# within _BORDER_DRIFT), so a slowly darkening sky is not mistaken for a bar. The limits leave
# room for JPEG ringing: a saturated bar recompressed at q 45-70 has lines with a deviation of 5-8 next
# to the picture, and a stricter limit left those lines, and a 50-bit PDQ error, behind.
_BORDER_STD = 10.0
_BORDER_DRIFT = 20.0
_MIN_KEPT = 0.2
"""Trim nothing if less than this fraction of a side would remain: the image is blank or a
thin strip, and a bar that big is more likely the picture itself."""


def _border_run(lines: npt.NDArray[np.float32]) -> int:
    """How many leading lines of ``lines`` (n lines x m pixels x 3) form a uniform border."""
    std = lines.std(axis=1).max(axis=1)
    drift = np.abs(lines.mean(axis=1) - lines[0].mean(axis=0)).max(axis=1)
    uniform = (std < _BORDER_STD) & (drift < _BORDER_DRIFT)
    if not uniform[0]:
        return 0
    return len(uniform) if uniform.all() else int(np.argmin(uniform))


def preprocess(image: Image.Image) -> Image.Image:
    """Canonical preprocessing before perceptual hashing: trim uniform borders.

    Args:
        image: An RGB image, as :func:`decode_image` returns.

    Returns:
        The image without its uniform edge rows and columns, or the very same object when it
        has none (or when trimming would leave less than a fifth of a side).
    """
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim != 3 or min(pixels.shape[:2]) < 16:
        return image
    height, width = pixels.shape[:2]
    columns = pixels.transpose(1, 0, 2)
    top = _border_run(pixels)
    bottom = _border_run(pixels[::-1])
    left = _border_run(columns)
    right = _border_run(columns[::-1])
    if top == bottom == left == right == 0:
        return image
    if height - top - bottom < _MIN_KEPT * height or width - left - right < _MIN_KEPT * width:
        return image
    return image.crop((left, top, width - right, height - bottom))

"""Hashing stage, first step: untrusted fetched bytes to one small grayscale image, or a coded failure.

Everything here assumes hostile input. In order, :func:`decode_image`:

1. rejects empty bodies and bodies over the byte limit;
2. sniffs the magic bytes, so HTML served as ``image/jpeg`` is "not-an-image", video goes to
   :mod:`hashing.video`, and formats we do not decode (HEIC, JPEG XL, ICO, SVG, PSD; AVIF where
   Pillow lacks the codec) are "unsupported"; only the matching Pillow plugin may open the bytes
   (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF): Pillow has many rarely used decoders, and none of
   them gets to see web bytes;
3. reads only the header and checks the pixel count, and the memory the decode would need
   (pixels x channels x bytes per sample, see :func:`decode_bytes`), against their limits
   *before* decoding (Pillow's own decompression-bomb warning or error becomes our error,
   never a warning);
4. decodes only the resolution the hashes need: JPEG through libjpeg's DCT scaling (``draft``,
   1/2, 1/4 or 1/8, luma only: every perceptual hash here reads luma alone), other formats in
   full and then ``reduce``-d by an integer factor (an exact block average), so the shorter
   side stays at least ``working_size`` pixels;
5. applies the EXIF orientation and converts any mode to 8-bit grayscale ("L"; transparency is
   composited on white first, 16-bit scaled down).

It also records, per axis, which full-resolution pixels each reduced pixel stands for
(:class:`hashing.pdq.Axis`), so PDQ can be computed as Meta's reference computes it on the
full image (see :mod:`hashing.pdq` and ``hashing/README.md``).

Nothing here edits the picture: trimming borders and other recoveries are query-side variants
(``hashing/variants.py``). A change here that moves hashes away from Meta's reference or
imagehash on the same file must bump the ``version`` of every perceptual algorithm.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

import numpy as np
from PIL import Image, ImageMode, ImageSequence, UnidentifiedImageError, features

from core.errors import PermanentError
from hashing.pdq import Axis, plain_axis

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_PIXELS = 80_000_000
"""About 10000 x 8000; keep it at or below Pillow's ``Image.MAX_IMAGE_PIXELS`` (~89.5 M)."""
DEFAULT_MAX_DECODE_BYTES = 4 * DEFAULT_MAX_PIXELS
"""Memory one decode may need, estimated from the header: every 8-bit image within the pixel
limit fits (4 bytes a pixel: RGBA, CMYK); 16-bit and float images, which are converted through
64-bit floats, are refused from a smaller size."""
DEEP_WORKING_BYTES = 8
"""Bytes per sample of the float64 copy that 16-bit, 32-bit integer and float images are scaled in."""
DEFAULT_WORKING_SIZE = 192
"""Shorter side, in pixels, that reduced decoding keeps at least. PDQ's filter at full
resolution spans about 1/64 of a side, so 192 leaves it three reduced pixels or more to act on.
Measured on the benchmark corpus against ``pdqhash`` on full images (``benchmarks/README.md``):
PDQ 1.1 bits off on average at 192 and 0.7 at 256, for 1.2-1.3x the throughput; pHash
identical to ``imagehash`` on the full image for three files in four at 192."""
DEFAULT_TIME_LIMIT_S = 10.0
"""Per-item budget for decoding and hashing an image (videos have their own)."""
LONG_SIDE_CAP = 16
"""Reduce further when the longer side would exceed this many times ``working_size``
(panoramas and strips: the work grows with the long side)."""


class DecodeFailure(StrEnum):
    """Stable codes that open every decode failure reason (they are counted and stored)."""

    EMPTY = "empty"
    TOO_LARGE = "too-large"
    DECOMPRESSION_BOMB = "decompression-bomb"
    NOT_AN_IMAGE = "not-an-image"
    CORRUPT = "corrupt"
    UNSUPPORTED = "unsupported"
    TIMEOUT = "timeout"
    CRASHED = "crashed"


class MediaDecodeError(PermanentError):
    """The bytes are not media this stage can decode; ``reason`` is ``"<code>: <detail>"``.

    Attributes:
        code: The :class:`DecodeFailure` that opens the reason.
    """

    def __init__(self, code: DecodeFailure, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


class Deadline:
    """A per-item time budget, checked between steps (a step never starts after it has passed).

    Every step is itself bounded (pixel, frame and byte limits), so checking between steps
    bounds the whole item to the budget plus one step.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self._end is not None and time.monotonic() >= self._end

    def check(self, step: str) -> None:
        """Raise if the budget is spent.

        Raises:
            MediaDecodeError: ``timeout``, naming the step that would have started.
        """
        if self.expired:
            raise MediaDecodeError(DecodeFailure.TIMEOUT, f"over the {self.seconds:g} s limit before {step}")


@dataclass(frozen=True)
class DecodeLimits:
    """What the decoder refuses to work on, and the size it hands on.

    Attributes:
        max_bytes: Largest body to decode.
        max_pixels: Largest width x height to decode (checked from the header, before decoding).
        max_decode_bytes: Most memory one decode may need by :func:`decode_bytes` (checked from the
            header, before decoding).
        working_size: Shorter side that reduced decoding keeps at least.
        time_limit_s: Budget for decoding and hashing one image.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    working_size: int = DEFAULT_WORKING_SIZE
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES

    def __post_init__(self) -> None:
        if (
            min(self.max_bytes, self.max_pixels, self.max_decode_bytes) <= 0
            or self.working_size < 32
            or self.time_limit_s <= 0
        ):
            raise ValueError("decode limits must be positive and working_size at least 32")


@dataclass(frozen=True)
class Raster:
    """A grayscale working image and how its axes map onto the full-resolution original.

    Attributes:
        image: Mode "L".
        rows: The vertical axis (see :class:`hashing.pdq.Axis`).
        cols: The horizontal axis.
    """

    image: Image.Image
    rows: Axis
    cols: Axis

    @classmethod
    def plain(cls, image: Image.Image) -> Raster:
        """A raster of an image taken as it is (nothing reduced): any mode, converted to L."""
        gray = image if image.mode == "L" else to_rgb(image).convert("L")
        return cls(gray, plain_axis(gray.height), plain_axis(gray.width))

    def crop(self, box: tuple[int, int, int, int]) -> Raster:
        """The raster cut to ``(left, top, right, bottom)`` in working pixels."""
        left, top, right, bottom = box
        return Raster(self.image.crop(box), self.rows.crop(top, bottom), self.cols.crop(left, right))


@dataclass(frozen=True)
class DecodedImage:
    """The decoded first frame and facts learnt on the way (safe to log: no pixels).

    Attributes:
        raster: The working image (grayscale, upright, reduced) and its axes.
        format: Pillow's name of the container format, e.g. ``"JPEG"``.
        width: Stored width in pixels, before orientation and reduction.
        height: Stored height in pixels, before orientation and reduction.
        animated: Whether the file holds more than one frame.
    """

    raster: Raster
    format: str
    width: int
    height: int
    animated: bool

    @property
    def image(self) -> Image.Image:
        """The working image."""
        return self.raster.image


@dataclass(frozen=True)
class Frame:
    """One sampled frame of an animation or a video.

    Attributes:
        time_s: When it shows, in seconds from the start.
        raster: The frame as a working image.
    """

    time_s: float
    raster: Raster = field(repr=False)

    @property
    def name(self) -> str:
        """Its stable variant name, e.g. ``"frame@12.0s"``."""
        return f"frame@{self.time_s:.1f}s"


def _is_avif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in {b"avif", b"avis"}


_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def video_container(head: bytes) -> str | None:
    """Name the video container the first bytes announce, or None (judged by magic bytes alone)."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS or brand in _AUDIO_BRANDS or brand in {b"avif", b"avis"}:
            return None
        return "QuickTime" if brand == b"qt  " else "MP4"
    if head[4:8] in {b"moov", b"mdat", b"wide", b"free"} and head[:2] == b"\x00\x00":
        return "QuickTime"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"FLV\x01":
        return "FLV"
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "ASF/WMV"
    if head[:4] == b"\x00\x00\x01\xba":
        return "MPEG-PS"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "MPEG-TS"
    return None


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
    head = data[:512]
    for matches, plugins in _DECODABLE:
        if matches(head):
            return plugins
    if _is_avif(head):
        if features.check("avif"):
            return ("AVIF",)
        raise MediaDecodeError(DecodeFailure.UNSUPPORTED, "AVIF (this Pillow has no AVIF codec)")
    container = video_container(head)
    if container is not None:
        raise MediaDecodeError(DecodeFailure.UNSUPPORTED, f"{container} video, not an image")
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


# Pillow's plugins report broken files with a mix of built-in exception types.
_BROKEN = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, struct.error)


def _deep(mode: str) -> bool:
    """Whether :func:`to_rgb` scales this mode down through a float64 copy."""
    return mode in {"I", "F"} or mode.startswith("I;16")


def decode_bytes(mode: str, width: int, height: int) -> int:
    """Memory, in bytes, that decoding an image of this header needs: pixels x channels x bytes per sample.

    Deep modes (16-bit, 32-bit integer, float) add the float64 copy they are scaled down in.
    """
    try:
        described = ImageMode.getmode(mode)
        per_sample = np.dtype(described.typestr).itemsize
        bands = len(described.bands)
    except (KeyError, TypeError):
        # A mode Pillow cannot describe is refused later; count it at the widest
        per_sample, bands = 4, 4
    if _deep(mode):
        per_sample += DEEP_WORKING_BYTES
    return width * height * bands * per_sample


def _open(data: bytes, plugins: tuple[str, ...], max_pixels: int, max_decode_bytes: int) -> Image.Image:
    try:
        # catch_warnings swaps the process-wide filters (not thread-safe before Python 3.14);
        # if another thread races it, our own pixel check below still refuses the image.
        with warnings.catch_warnings():
            # Pillow warns about damage it reads past (a corrupt EXIF block): not our concern.
            warnings.simplefilter("ignore")
            # The bomb warning must not pass as a warning (it would let the decode go ahead):
            # raise it and convert it below.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(plugins))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaDecodeError(DecodeFailure.DECOMPRESSION_BOMB, str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise MediaDecodeError(DecodeFailure.CORRUPT, f"{plugins[0]} signature but unreadable header") from exc
    except _BROKEN as exc:
        raise MediaDecodeError(DecodeFailure.CORRUPT, f"{type(exc).__name__}: {exc}") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaDecodeError(DecodeFailure.CORRUPT, f"header claims {width}x{height} pixels")
    if width * height > max_pixels:
        raise MediaDecodeError(
            DecodeFailure.DECOMPRESSION_BOMB,
            f"header claims {width}x{height} = {width * height} pixels > limit {max_pixels}",
        )
    needed = decode_bytes(image.mode, width, height)
    if needed > max_decode_bytes:
        raise MediaDecodeError(
            DecodeFailure.DECOMPRESSION_BOMB,
            f"decoding {width}x{height} {image.mode} needs about {needed} bytes > limit {max_decode_bytes}",
        )
    return image


def reduction(width: int, height: int, working_size: int) -> int:
    """Integer reduction that keeps the shorter side at least ``working_size`` (see the module docstring)."""
    factor = max(1, min(width, height) // working_size)
    return max(factor, -(-max(width, height) // (LONG_SIDE_CAP * working_size)))


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
    # in place: one float64 copy at a time is what decode_bytes counts
    if image.mode == "F" and top <= 1.0:
        values *= 255.0
    elif image.mode.startswith("I;16") or (image.mode == "I" and top > 255):
        values /= 257.0
    np.rint(values, out=values)
    np.clip(values, 0, 255, out=values)
    gray = values.astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white.

    Raises:
        MediaDecodeError: ``unsupported`` for a mode Pillow cannot convert.
    """
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in {"RGBA", "RGBa", "LA", "La", "PA"} or (mode in {"P", "L", "RGB"} and "transparency" in image.info):
        return _on_white(image)
    if _deep(mode):
        return _deep_gray_to_rgb(image)
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise MediaDecodeError(DecodeFailure.UNSUPPORTED, f"pixel mode {mode}") from exc


def to_gray(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit grayscale (L) through :func:`to_rgb`'s rules.

    Raises:
        MediaDecodeError: ``unsupported`` for a mode Pillow cannot convert.
    """
    if image.mode == "L" and "transparency" not in image.info:
        return image
    return to_rgb(image).convert("L")


_ORIENTATIONS: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _mirror(axis: Axis) -> Axis:
    return Axis(axis.full, axis.factor, not axis.mirrored)


def transpose_raster(raster: Raster, method: Image.Transpose) -> Raster:
    """Transpose the image and carry its axes along (uncropped rasters only)."""
    rows, cols = raster.rows, raster.cols
    new_rows, new_cols = {
        Image.Transpose.FLIP_LEFT_RIGHT: (rows, _mirror(cols)),
        Image.Transpose.FLIP_TOP_BOTTOM: (_mirror(rows), cols),
        Image.Transpose.ROTATE_180: (_mirror(rows), _mirror(cols)),
        Image.Transpose.TRANSPOSE: (cols, rows),
        # anticlockwise: the new top row is the old right column
        Image.Transpose.ROTATE_90: (_mirror(cols), rows),
        Image.Transpose.ROTATE_270: (cols, _mirror(rows)),
        Image.Transpose.TRANSVERSE: (_mirror(cols), _mirror(rows)),
    }[method]
    return Raster(raster.image.transpose(method), new_rows, new_cols)


def _orientation(image: Image.Image) -> Image.Transpose | None:
    try:
        with warnings.catch_warnings():
            # Pillow warns about a corrupt EXIF block and reads on; we only need one tag
            warnings.simplefilter("ignore")
            value = image.getexif().get(0x0112)
    except _BROKEN:
        # A broken EXIF block must not cost us the image: hash it as stored.
        return None
    return _ORIENTATIONS.get(value) if isinstance(value, int) else None


def _reduced_frame(image: Image.Image, working_size: int, orientation: Image.Transpose | None) -> Raster:
    """The current (loaded) frame as an upright, reduced grayscale raster."""
    width, height = image.size
    gray = to_gray(image)
    factor = reduction(width, height, working_size)
    if factor > 1:
        gray = gray.reduce(factor)
    raster = Raster(gray, Axis(height, factor), Axis(width, factor))
    return raster if orientation is None else transpose_raster(raster, orientation)


def _guarded(step: Callable[[], Raster]) -> Raster:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return step()
    except MediaDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaDecodeError(DecodeFailure.DECOMPRESSION_BOMB, str(exc)) from exc
    except MemoryError as exc:
        raise MediaDecodeError(DecodeFailure.DECOMPRESSION_BOMB, "out of memory decoding") from exc
    except _BROKEN as exc:
        raise MediaDecodeError(DecodeFailure.CORRUPT, f"{exc}") from exc


def _start(data: bytes, limits: DecodeLimits) -> tuple[Image.Image, str]:
    if not data:
        raise MediaDecodeError(DecodeFailure.EMPTY, "no bytes")
    if len(data) > limits.max_bytes:
        raise MediaDecodeError(DecodeFailure.TOO_LARGE, f"{len(data)} bytes > limit {limits.max_bytes}")
    plugins = _sniff(data)
    image = _open(data, plugins, _pixel_limit(limits), limits.max_decode_bytes)
    return image, image.format or plugins[0]


def decode_image(data: bytes, limits: DecodeLimits | None = None) -> DecodedImage:
    """Decode untrusted bytes into one small, upright grayscale working image.

    Args:
        data: The fetched body.
        limits: Byte, pixel and size limits (defaults: :class:`DecodeLimits`).

    Returns:
        The first frame (animations: frame 0), orientation applied, reduced, in mode L.

    Raises:
        MediaDecodeError: With a reason that starts with a :class:`DecodeFailure` code.
    """
    limits = limits or DecodeLimits()
    image, container = _start(data, limits)
    width, height = image.size
    animated = False

    def step() -> Raster:
        nonlocal animated
        if container in {"JPEG", "MPO"}:
            drafted = image.draft("L", (limits.working_size, limits.working_size))
            # draft answers the box it will decode, in reduced pixels: width / box width = scale
            scale = round(width / drafted[1][2]) if drafted else 1
            image.load()
            raster = Raster(to_gray(image), Axis(height, scale), Axis(width, scale))
            orientation = _orientation(image)
            return raster if orientation is None else transpose_raster(raster, orientation)
        # Before load: it peeks one frame ahead and seeks back, which would drop the pixels
        # (n_frames would walk the whole animation).
        animated = bool(getattr(image, "is_animated", False))
        image.load()
        return _reduced_frame(image, limits.working_size, _orientation(image))

    raster = _guarded(step)
    return DecodedImage(raster=raster, format=container, width=width, height=height, animated=animated)


def decode_frames(
    data: bytes,
    limits: DecodeLimits,
    *,
    interval_s: float,
    max_frames: int,
    max_scanned: int,
    deadline: Deadline,
) -> Iterator[Frame]:
    """Sample the frames of an animated GIF or WebP, one every ``interval_s`` of play time.

    Frame 0 is not yielded (it is the image's own hash). Decoding stops after ``max_frames``
    samples, ``max_scanned`` frames read (seeking in a GIF decodes every frame on the way), or
    when the deadline passes.

    Raises:
        MediaDecodeError: If a frame is corrupt or the deadline passes.
    """
    image, _container = _start(data, limits)
    orientation = _orientation(image)
    played = 0.0
    next_at = interval_s
    sampled = 0
    frames = ImageSequence.Iterator(image)
    index = 0
    while sampled < max_frames and index < max_scanned:
        deadline.check(f"frame {index}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                frame = frames[index]
                # WebP reports a frame's duration only once it is loaded
                frame.load()
        except IndexError:
            return
        except _BROKEN as exc:
            raise MediaDecodeError(DecodeFailure.CORRUPT, f"frame {index}: {exc}") from exc
        duration = frame.info.get("duration")
        # Browsers show frames with no or tiny delays for about 0.1 s.
        shown = float(duration) / 1000 if isinstance(duration, int | float) and duration >= 20 else 0.1
        if index > 0 and played >= next_at:
            yield Frame(played, _guarded(partial(_reduced_frame, frame, limits.working_size, orientation)))
            sampled += 1
            next_at = played + interval_s
        played += shown
        index += 1


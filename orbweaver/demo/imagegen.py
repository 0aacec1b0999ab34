"""Demo and test support, outside the pipeline: deterministic benign images and their altered copies.

Every image here is synthetic: smooth multi-scale colour fields, random geometric shapes and a
little grain, drawn with numpy and Pillow from a seed. Nothing is ever loaded from outside. The
images stand in for photographs wherever the pipeline needs media (demo site, tests, benchmarks):
they have strong low-frequency structure, so PDQ rates them high quality, and two different seeds
give unrelated hashes (about 128 of 256 bits apart).

Alterations reproduce what re-uploads do to a picture (downscaling, re-compression, cropping,
added borders) so the demo can plant "altered copies" of known images and check they still match.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from core.optional import require

RGBArray = npt.NDArray[np.uint8]

GRAIN = 6
"""Amplitude of the per-pixel grain, in 8-bit levels."""

DEFAULT_QUALITY = 90
"""JPEG quality for images that have not been through a ``recompress`` alteration."""


class ImageFormat(StrEnum):
    """Encodings the demo writes; the value is Pillow's format name."""

    JPEG = "JPEG"
    PNG = "PNG"
    WEBP = "WEBP"
    GIF = "GIF"


EXTENSIONS: dict[ImageFormat, str] = {
    ImageFormat.JPEG: ".jpg",
    ImageFormat.PNG: ".png",
    ImageFormat.WEBP: ".webp",
    ImageFormat.GIF: ".gif",
}
"""File extension written for each format."""


class AlterationKind(StrEnum):
    """One re-upload transformation; values are recorded in the demo manifest."""

    RESIZE = "resize"
    RECOMPRESS = "recompress"
    CROP = "crop"
    BORDER = "border"


COMBINATIONS: tuple[tuple[AlterationKind, ...], ...] = (
    (AlterationKind.RESIZE,),
    (AlterationKind.RECOMPRESS,),
    (AlterationKind.CROP,),
    (AlterationKind.BORDER,),
    (AlterationKind.RESIZE, AlterationKind.RECOMPRESS),
    (AlterationKind.CROP, AlterationKind.RECOMPRESS),
    (AlterationKind.BORDER, AlterationKind.RESIZE),
    (AlterationKind.CROP, AlterationKind.BORDER, AlterationKind.RECOMPRESS),
    (AlterationKind.RESIZE, AlterationKind.CROP, AlterationKind.BORDER, AlterationKind.RECOMPRESS),
)
"""The alteration chains the demo site cycles through when it plants copies."""


@dataclass(frozen=True)
class Altered:
    """An altered copy of an image, ready to encode.

    Attributes:
        image: The altered RGB image.
        quality: JPEG quality to encode it with (lower than the default after ``recompress``).
        steps: What was done, in order, with parameters, e.g. ``("resize(0.73)", "recompress(q=55)")``.
    """

    image: Image.Image
    quality: int
    steps: tuple[str, ...]

    @property
    def label(self) -> str:
        """The steps joined with ``+``: a compact, human-readable record of the alteration."""
        return "+".join(self.steps)


def _smooth_field(rng: np.random.Generator, width: int, height: int) -> npt.NDArray[np.float32]:
    """Sum of upsampled random grids at several scales: the 'lighting' of a photograph.

    Returned at a quarter of ``width`` x ``height``: the field is smooth, so the caller's
    upsample loses nothing visible and the step stays a few milliseconds.
    """
    w, h = max(8, width // 4), max(8, height // 4)
    aspect = width / height

    def noise(cells: int, channels: int) -> npt.NDArray[np.float32]:
        grid = rng.random((cells, max(2, round(cells * aspect)), channels), dtype=np.float32)
        mode = "L" if channels == 1 else "RGB"
        layer = Image.fromarray((grid * 255).astype(np.uint8).squeeze(), mode).resize((w, h), Image.Resampling.BICUBIC)
        return np.asarray(layer, dtype=np.float32).reshape(h, w, channels) / np.float32(255)

    # Brightness carries the structure and colour only tints it: independent random channels
    # would average out to flat grey, and PDQ sees luminance only.
    light = sum(
        (weight * noise(cells, 1) for cells, weight in ((2, 1.0), (4, 0.7), (8, 0.4), (16, 0.25))),
        start=np.zeros((h, w, 1), dtype=np.float32),
    )
    lo, hi = float(light.min()), float(light.max())
    base = rng.uniform(10, 70)
    span = rng.uniform(150, 245 - base)
    light = base + (light - lo) / max(hi - lo, 1e-6) * span
    tint = 0.55 + 0.6 * noise(2, 3) + 0.15 * noise(8, 3)
    return (light * tint).astype(np.float32)


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, size=3))
    return (r, g, b)


def _draw_shapes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, height: int) -> None:
    """Ellipses, polygons and stripe bands: the sharp edges that give PDQ its quality."""
    diag = float(np.hypot(width, height))
    for _ in range(int(rng.integers(6, 14))):
        shape = int(rng.integers(0, 3))
        colour = _random_colour(rng)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.05, 0.3) * diag
        if shape == 0:
            rx, ry = radius, radius * rng.uniform(0.4, 1.0)
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
        elif shape == 1:
            corners = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=corners))
            radii = radius * rng.uniform(0.5, 1.0, size=corners)
            points = [
                (float(cx + r * np.cos(a)), float(cy + r * np.sin(a))) for a, r in zip(angles, radii, strict=True)
            ]
            draw.polygon(points, fill=colour)
        else:
            angle = rng.uniform(0, np.pi)
            dx, dy = float(np.cos(angle)), float(np.sin(angle))
            thickness = rng.uniform(0.01, 0.04) * diag
            gap = thickness * rng.uniform(1.5, 3.0)
            for k in range(int(rng.integers(2, 6))):
                # Each stripe is a long thin quadrilateral, offset along the normal.
                ox, oy = cx - dy * gap * k, cy + dx * gap * k
                half = radius
                nx, ny = -dy * thickness / 2, dx * thickness / 2
                draw.polygon(
                    [
                        (ox - dx * half + nx, oy - dy * half + ny),
                        (ox + dx * half + nx, oy + dy * half + ny),
                        (ox + dx * half - nx, oy + dy * half - ny),
                        (ox - dx * half - nx, oy - dy * half - ny),
                    ],
                    fill=colour,
                )


def generate(seed: int, size: tuple[int, int]) -> Image.Image:
    """Draw one benign, photo-like RGB image; the same seed and size always give the same pixels.

    Args:
        seed: Any non-negative integer.
        size: ``(width, height)`` in pixels; both at least 16.

    Returns:
        An RGB image of exactly ``size``.

    Raises:
        ValueError: If a dimension is below 16 pixels.
    """
    width, height = size
    if width < 16 or height < 16:
        raise ValueError(f"image size {size} is below 16x16")
    rng = np.random.default_rng(seed)
    # Drawn at half size, then enlarged: a quarter of the work, and edges come out slightly soft,
    # as in a real photograph, instead of aliased.
    w, h = max(16, width // 2), max(16, height // 2)
    field = _smooth_field(rng, w, h)
    small = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8), "RGB")
    canvas = small.resize((w, h), Image.Resampling.BILINEAR)
    _draw_shapes(ImageDraw.Draw(canvas), rng, w, h)
    # Sensor-like grain, one grey channel, added before enlarging so it comes out two pixels
    # wide like real noise after demosaicing; it gives flat areas the texture PDQ's quality
    # score looks for.
    grain = rng.integers(-GRAIN, GRAIN + 1, size=(h, w, 1), dtype=np.int16)
    grainy = np.clip(np.asarray(canvas, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(grainy, "RGB").resize((width, height), Image.Resampling.BILINEAR)


def encode(img: Image.Image, fmt: ImageFormat | str = ImageFormat.JPEG, quality: int = DEFAULT_QUALITY) -> bytes:
    """Encode an image deterministically (no timestamps or other varying metadata).

    Args:
        img: The image to encode.
        fmt: ``JPEG``, ``PNG``, ``WEBP`` or ``GIF``.
        quality: Lossy quality, used by JPEG and WEBP.

    Returns:
        The encoded bytes.
    """
    fmt = ImageFormat(fmt)
    buf = io.BytesIO()
    if fmt is ImageFormat.JPEG:
        img.convert("RGB").save(buf, "JPEG", quality=quality)
    elif fmt is ImageFormat.PNG:
        # Level 1: these are test images; speed matters more than a smaller file.
        img.convert("RGB").save(buf, "PNG", compress_level=1)
    elif fmt is ImageFormat.WEBP:
        img.convert("RGB").save(buf, "WEBP", quality=quality, method=0)
    else:
        img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, "GIF")
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    """Decode image bytes to RGB.

    Args:
        data: Encoded image bytes.

    Returns:
        The decoded image in RGB mode.
    """
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def _resize(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    factor = float(rng.uniform(0.5, 0.9))
    size = (max(16, round(img.width * factor)), max(16, round(img.height * factor)))
    filters = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)
    resample = filters[int(rng.integers(0, len(filters)))]
    return img.resize(size, resample), f"resize({factor:.2f})"


def _crop(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    # 2-5% of each dimension, shared unevenly between its two edges, not 2-5% off every edge:
    # PDQ is fragile under crops (5% off every edge moves almost every hash past 31 bits, and
    # even this range keeps only about one draw in four within it; callers re-draw).
    fractions: list[float] = []
    for _ in range(2):
        total = float(rng.uniform(0.02, 0.05))
        share = float(rng.uniform(0.2, 0.8))
        fractions += [total * share, total * (1 - share)]
    left, right, top, bottom = fractions
    box = (
        round(img.width * left),
        round(img.height * top),
        img.width - round(img.width * right),
        img.height - round(img.height * bottom),
    )
    label = f"crop({left:.1%},{top:.1%},{right:.1%},{bottom:.1%})"
    return img.crop(box), label


def _border(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    frac = float(rng.uniform(0.03, 0.08))
    bw, bh = max(1, round(img.width * frac)), max(1, round(img.height * frac))
    colour = _random_colour(rng)
    canvas = np.empty((img.height + 2 * bh, img.width + 2 * bw, 3), dtype=np.uint8)
    canvas[:] = colour
    near_solid = bool(rng.integers(0, 2))
    if near_solid:
        # A faint texture, as on a scanned mat or a gradient frame: the trim must tolerate it.
        jitter = rng.integers(-3, 4, size=(*canvas.shape[:2], 1), dtype=np.int16)
        canvas = np.clip(canvas.astype(np.int16) + jitter, 0, 255).astype(np.uint8)
    canvas[bh : bh + img.height, bw : bw + img.width] = np.asarray(img.convert("RGB"))
    kind = "near-solid" if near_solid else "solid"
    hexcolour = "#{:02x}{:02x}{:02x}".format(*colour)
    return Image.fromarray(canvas, "RGB"), f"border({frac:.1%},{kind},{hexcolour})"


def alter(
    img: Image.Image,
    kind: AlterationKind | str | Sequence[AlterationKind | str],
    rng: np.random.Generator,
) -> Altered:
    """Apply one alteration, or a chain of them in order, with random parameters from ``rng``.

    Parameter ranges: resize 0.5-0.9x; recompress JPEG quality 40-80 (applied when the result is
    encoded, via :attr:`Altered.quality`); crop 2-5% of each dimension, split between its two
    edges (label order: left, top, right, bottom); border 3-8% of the size on
    every side, solid or near-solid.

    Args:
        img: The image to alter; not modified.
        kind: One :class:`AlterationKind` (or its value) or a sequence of them.
        rng: Source of the random parameters, so a seeded generator gives repeatable copies.

    Returns:
        The altered image, the JPEG quality to encode it with, and the steps taken.
    """
    kinds = [AlterationKind(kind)] if isinstance(kind, str) else [AlterationKind(k) for k in kind]
    out = img.convert("RGB")
    quality = DEFAULT_QUALITY
    steps: list[str] = []
    for step in kinds:
        if step is AlterationKind.RECOMPRESS:
            quality = int(rng.integers(40, 81))
            steps.append(f"recompress(q={quality})")
            continue
        if step is AlterationKind.RESIZE:
            out, label = _resize(out, rng)
        elif step is AlterationKind.CROP:
            out, label = _crop(out, rng)
        else:
            out, label = _border(out, rng)
        steps.append(label)
    return Altered(image=out, quality=quality, steps=tuple(steps))


def trim_uniform_border(rgb: RGBArray, tolerance: float = 12.0) -> RGBArray:
    """Cut away a solid or near-solid frame, the way the hashing stage does before hashing.

    A small stand-in used to validate planted copies; the hashing stage owns the real one. A row
    or column belongs to the frame while its mean absolute difference from the frame colour (the
    median of the outermost ring) stays within ``tolerance``.

    Args:
        rgb: ``(height, width, 3)`` uint8 pixels.
        tolerance: Mean absolute difference, per channel, still counted as frame.

    Returns:
        A view of ``rgb`` without the frame (``rgb`` itself when there is none). At most a
        quarter of each dimension is cut from each side.
    """
    height, width = rgb.shape[:2]
    ring = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    colour = np.median(ring, axis=0).astype(np.int16)
    # Only the outer quarter on each side can be frame: a frame wider than that is content.
    band_h, band_w = max(1, height // 4), max(1, width // 4)

    def off(band: RGBArray, axis: tuple[int, int]) -> npt.NDArray[np.float64]:
        mean: npt.NDArray[np.float64] = np.abs(band.astype(np.int16) - colour).mean(axis=axis)
        return mean

    def run(values: npt.NDArray[np.float64]) -> int:
        inside = np.nonzero(values > tolerance)[0]
        return int(inside[0]) if inside.size else len(values)

    # Every third pixel along a row or column is plenty to tell frame from picture.
    top = run(off(rgb[:band_h, ::3], (1, 2)))
    bottom = run(off(rgb[height - band_h :, ::3][::-1], (1, 2)))
    left = run(off(rgb[::3, :band_w], (0, 2)))
    right = run(off(rgb[::3, width - band_w :][:, ::-1], (0, 2)))
    if top + bottom >= height - 16 or left + right >= width - 16:
        return rgb
    return rgb[top : height - bottom, left : width - right]


def pdq(img: Image.Image | RGBArray) -> tuple[npt.NDArray[np.bool_], int]:
    """PDQ hash bits and quality of an image, via the plain ``pdqhash`` package.

    Args:
        img: An image or ``(height, width, 3)`` uint8 RGB pixels.

    Returns:
        256 hash bits and the PDQ quality score (0-100).
    """
    pdqhash = require("pdqhash", "hashing")
    pixels = np.ascontiguousarray(np.asarray(img.convert("RGB")) if isinstance(img, Image.Image) else img)
    bits, quality = pdqhash.compute(pixels)
    return np.asarray(bits, dtype=bool), int(quality)


def hamming(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> int:
    """Number of differing bits between two PDQ hashes.

    Args:
        a: 256 hash bits.
        b: 256 hash bits.

    Returns:
        The Hamming distance, 0-256.
    """
    return int(np.count_nonzero(a != b))


def to_hex(bits: npt.NDArray[np.bool_]) -> str:
    """PDQ bits as a 64-character hex string, first bit most significant (as python-threatexchange).

    Args:
        bits: 256 hash bits.

    Returns:
        Lower-case hex.
    """
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()

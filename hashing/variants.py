"""Hashing stage, query side: undo common edits of a picture before hashing, as extra named images.

Known lists carry hashes of the pictures as they were first seen, so a copy that was padded,
shown in a screenshot or given a caption bar matches only if the query side undoes the edit.
The hasher hashes the image as given, PDQ's rotations and flips, and each :class:`Variant` that
:func:`query_variants` returns, tagging those hashes with the variant's name
(``HashValue.variant``). Every variant costs one lookup per algorithm, so there are few:

- ``trimmed``: uniform borders cut away (letterbox bars, padding, mats; nested ones too);
- ``deframed``: the picture cut out of an interface around it (a screenshot of a browser page,
  a phone app or an image viewer; a caption bar with text): the rectangle that is picture
  rather than flat interface colour, its sides moved onto the picture's edges;
- ``unrotated``: a picture turned by a small angle inside a frame of its own size (the corners
  it leaves bare filled with one flat colour) turned back, its bare corners and the corners it
  lost filled with its mean colour. The angle comes from the edges of the four bare corner
  triangles, and all four must agree, so photos without such corners almost never get it;
- ``uncropped``: the picture (trimmed or deframed when it was) with its edge pixels repeated
  outwards by :data:`UNCROP_MARGIN` of each side. A copy cropped by about 5% per side is then
  back at its original scale, which brings most such copies within pHash's and many within
  PDQ's review radius (``benchmarks/README.md``, robustness). It is the one variant every
  image gets (nothing can tell a cropped picture from an uncropped one), except when the two
  others are both there (a budget of two variants).

The names are storage keys (stored hashes and hits carry them): never rename one. Every
decision here reads the grayscale luma only; the variant images keep the mode they came in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import numpy as np
import numpy.typing as npt
from PIL import Image

from hashing.decode import to_gray, to_rgb

FloatArray = npt.NDArray[np.float32]
Box = tuple[int, int, int, int]
"""``(left, top, right, bottom)`` in pixels, right and bottom exclusive (Pillow's crop box)."""


class VariantName(StrEnum):
    """Names of the query-side variants; they are storage keys, never rename one."""

    TRIMMED = "trimmed"
    DEFRAMED = "deframed"
    UNROTATED = "unrotated"
    UNCROPPED = "uncropped"


@dataclass(frozen=True)
class Variant:
    """One edited copy of a query image, hashed besides the image itself.

    Attributes:
        name: A :class:`VariantName` value, written into ``HashValue.variant``.
        image: The copy, in the mode of the image it was made from (L or RGB; others become RGB).
    """

    name: str
    image: Image.Image


MAX_VARIANTS = 2
"""Most variants one image gets (each costs a PDQ and a pHash lookup)."""
MIN_SIDE = 32
"""Images smaller than this on either side get no variants: too little to judge by."""
MIN_KEPT = 0.2
"""A trim or frame must leave at least this share of each side (more would be the picture itself)."""
MIN_CHANGE = 0.02
"""A trim or frame must move some side by at least this share of it to be worth a lookup."""
UNCROP_MARGIN = 0.055
"""Margin added per side by ``uncropped``: cropping 5% per side leaves 90%, and 5 / 90 = 0.056."""
DETECTION_SIZE = 160
"""Detection runs on the working image reduced to at most this many pixels on the longer side."""

# Trim. A border line is near-constant (standard deviation along it under _BORDER_STD) and
# close to the grey of the outermost line (within _BORDER_DRIFT), so a slowly darkening sky is
# not taken for a bar. The limits leave room for the ringing JPEG puts next to a saturated bar.
_BORDER_STD = 10.0
_BORDER_DRIFT = 20.0
_TRIM_PASSES = 3
"""Nested borders of different colours (a white mat inside a black frame) go one per pass."""

# Deframe. Interfaces are drawn in a few flat colours that reach the edge of the screenshot, so
# a pixel is "interface" when it is flat (no step to a neighbour above _FLAT_STEP) and within
# _COLOUR_TOLERANCE of a grey level that covers at least _DOMINANT of the outermost _RING
# lines. On a grid of about _CELLS cells across the longer side, a cell is interface when at
# least _INTERFACE_SHARE of its pixels are (text and icons leave most of a cell bare). The
# picture is the rectangle that maximises picture cells - _INTERFACE_COST x interface cells.
# 48 cells (96 before issue 13): the rectangle search costs rows x cols^2, so 8x less, and
# _snap puts each side back on the picture's edge pixel by pixel anyway.
_CELLS = 48
_RING = 2
_DOMINANT = 0.1
_COLOUR_TOLERANCE = 4
_FLAT_STEP = 2.0
_INTERFACE_SHARE = 0.5
_INTERFACE_COST = 2.0
_MIN_FRAME_INTERFACE = 0.7
"""Share of the cells around the picture that must be interface: a frame, not more picture."""
_MAX_PICTURE_INTERFACE = 0.3
"""Share of the cells inside that may be interface-coloured (flat regions of the picture)."""
_AREA = (0.1, 0.92)
"""The picture covers this share of the screenshot: less is an icon, more is no frame."""
_SNAP_CELLS = 6
"""How far, in cells, a side may move from where the grid put it to the picture's edge."""
_MARGIN_LINE = 0.9
"""A row or column across the picture is margin (not picture) when this share of it is interface."""


# Unrotate. The bare corners are pixels within _CORNER_TOLERANCE of the grey of the four corner
# pixels (JPEG and resampling smear a flat fill by about that much). In each corner triangle the
# depth of the bare run falls by tan(angle) a pixel along the triangle's long leg; a robust
# line fit there gives the angle to a few hundredths of a degree on a 192-pixel working image,
# where the short leg (a few pixels) could not.
_CORNER_TOLERANCE = 24.0
_ANGLE_RANGE = (0.5, 20.0)
"""Turns smaller than this are not worth a lookup; larger ones do not leave triangle corners."""
_ANGLE_AGREEMENT = 0.5
"""Degrees by which the corners' angles may differ from their median."""
_MIN_LEG = 8
"""Pixels a triangle's long leg needs for its angle to count."""
_SLOPE_POINTS = 60


def query_variants(image: Image.Image) -> list[Variant]:
    """The edited copies of a query image worth hashing besides the image itself.

    Args:
        image: The query image, any mode Pillow can convert (the hasher passes its grayscale
            working image); transparency is composited on white, 16-bit grey scaled down.

    Returns:
        At most :data:`MAX_VARIANTS`, in this order: ``trimmed``, ``deframed``, ``unrotated``,
        ``uncropped``; none for an image under :data:`MIN_SIDE` pixels on a side.

    Raises:
        MediaDecodeError: ``unsupported`` for a pixel mode that cannot be converted.
    """
    if min(image.size) < MIN_SIDE:
        return []
    base = image if image.mode in {"L", "RGB"} else to_rgb(image)
    pixels = np.asarray(to_gray(base), dtype=np.float32)
    found = detect(pixels)
    variants: list[Variant] = []
    picture: Box | None = None
    if found.trimmed is not None:
        variants.append(Variant(VariantName.TRIMMED, base.crop(found.trimmed)))
        picture = found.trimmed
    framed = found.deframed
    if framed is not None and (found.trimmed is None or not _same_box(framed, found.trimmed, pixels.shape)):
        variants.append(Variant(VariantName.DEFRAMED, base.crop(framed)))
        picture = framed
    if len(variants) < MAX_VARIANTS and found.angle is not None:
        variants.append(Variant(VariantName.UNROTATED, unrotate(base, found.angle)))
    if len(variants) < MAX_VARIANTS:
        inner = base if picture is None else base.crop(picture)
        variants.append(Variant(VariantName.UNCROPPED, uncrop(inner, UNCROP_MARGIN)))
    return variants


@dataclass(frozen=True)
class Detection:
    """What variant detection found in one image, in the image's own pixels.

    Attributes:
        trimmed: :func:`trim_box`'s box, or None.
        deframed: :func:`deframe_box`'s box, or None.
        angle: :func:`rotation_angle`'s angle, or None.
    """

    trimmed: Box | None
    deframed: Box | None
    angle: float | None


def _reduce(pixels: FloatArray, factor: int) -> FloatArray:
    """Every ``factor``-th pixel of every ``factor``-th row, from the middle of the first block."""
    height, width = pixels.shape
    rows, cols = height // factor, width // factor
    first = factor // 2
    small: FloatArray = np.ascontiguousarray(pixels[first : rows * factor : factor, first : cols * factor : factor])
    return small


def detect(pixels: FloatArray) -> Detection:
    """Trim, deframe and turn detection on one grayscale array, screened on a reduced copy of it.

    Detection's cost grows with the pixel count, and whether there is a border or a frame at
    all shows at about :data:`DETECTION_SIZE` pixels on the longer side: the array is reduced by
    the integer factor that brings it to at most that (every ``factor``-th pixel of every
    ``factor``-th row: block means would smear an interface's text into non-interface grey).
    Only what the reduced copy shows is then measured at full size, so a box found is the one
    full-size detection finds (a frame or border the copy misses is lost). The turn is measured
    at full size; photos without bare corners leave it after four pixels.

    Args:
        pixels: ``(height, width)`` grey levels (the hasher's working image).
    """
    factor = max(1, -(-max(pixels.shape) // DETECTION_SIZE))
    small = pixels if factor == 1 else _reduce(pixels, factor)
    if min(small.shape) < MIN_SIDE // 2:
        small, factor = pixels, 1
    # A trim undoes padding exactly (the trimmed copy hashes as the original did), which needs
    # its sides to the pixel: the reduced copy only says whether there is a border to trim.
    # Nearly all the time goes into pictures with neither, and those cost the reduced copy's.
    return Detection(
        trimmed=None if factor > 1 and trim_box(small) is None else trim_box(pixels),
        # Likewise a frame: sides mapped back from the reduced copy are up to ``factor`` pixels
        # off, which cost the robustness benchmark 3 in 100 screenshots, so the copy only says
        # whether to look for one at full size (most pictures have none).
        deframed=None if factor > 1 and deframe_box(small) is None else deframe_box(pixels),
        # The turn stays at full size: on the reduced copy the corner triangles' legs are a few
        # pixels long and the angle comes out up to a quarter degree off, which lost a fifth of
        # the robustness benchmark's rotate4 recall. Photos without bare corners leave early.
        angle=rotation_angle(pixels),
    )


def _same_box(a: Box, b: Box, shape: tuple[int, ...]) -> bool:
    """Whether no side of ``a`` is :data:`MIN_CHANGE` of the image or more away from that of ``b``."""
    height, width = shape[:2]
    sides = (width, height, width, height)
    return all(abs(p - q) < MIN_CHANGE * side for p, q, side in zip(a, b, sides, strict=True))


def _keeps_enough(box: Box, shape: tuple[int, ...]) -> bool:
    left, top, right, bottom = box
    height, width = shape[:2]
    return right - left >= MIN_KEPT * width and bottom - top >= MIN_KEPT * height


# Trim ----------------------------------------------------------------------------------------


def _border_run(lines: FloatArray) -> int:
    """How many leading lines of ``lines`` (lines x pixels) form a uniform border.

    Lines are read in growing chunks, so a picture without a border (most of them) costs one
    line's statistics rather than the whole image's.
    """
    first = lines[0].mean()
    start, chunk = 0, 1
    while start < len(lines):
        block = lines[start : start + chunk]
        uniform = (block.std(axis=1) < _BORDER_STD) & (np.abs(block.mean(axis=1) - first) < _BORDER_DRIFT)
        if not uniform.all():
            return start + int(np.argmin(uniform))
        start, chunk = start + chunk, chunk * 4
    return len(lines)


def trim_box(pixels: FloatArray) -> Box | None:
    """The box inside the uniform borders of a grayscale array, or None if there is nothing to trim.

    Trims up to :data:`_TRIM_PASSES` nested borders. None too when no side moves by
    :data:`MIN_CHANGE` of the image (not worth a lookup) or less than :data:`MIN_KEPT` of a
    side would remain (a blank image or a thin strip: the "border" is the picture).

    Args:
        pixels: ``(height, width)`` grey levels.
    """
    height, width = pixels.shape
    # No outer line uniform, no border (most pictures): one statistic per side, then done.
    if min(float(line.std()) for line in (pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1])) >= _BORDER_STD:
        return None
    left, top, right, bottom = 0, 0, width, height
    for _ in range(_TRIM_PASSES):
        inner = pixels[top:bottom, left:right]
        if min(inner.shape) < MIN_SIDE // 2:
            return None
        steps = (_border_run(inner.T), _border_run(inner), _border_run(inner.T[::-1]), _border_run(inner[::-1]))
        if not any(steps):
            break
        left, top, right, bottom = left + steps[0], top + steps[1], right - steps[2], bottom - steps[3]
    box = (left, top, right, bottom)
    if not _keeps_enough(box, pixels.shape) or _same_box(box, (0, 0, width, height), pixels.shape):
        return None
    return box


# Deframe -------------------------------------------------------------------------------------


def _interface(pixels: FloatArray, cell: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
    """Which pixels are flat interface colour, and which cells mostly are.

    None when no grey dominates the outer lines (nothing there looks like an interface).
    """
    levels = np.clip(np.rint(pixels), 0, 255).astype(np.int64)
    height, width = pixels.shape
    ring_size = 2 * _RING * (height + width)
    # The outer lines end to end, a NaN between two lines so that no step spans them.
    gap = np.full((2 * _RING, 1), np.nan, dtype=np.float32)
    ring = np.concatenate(
        [
            np.hstack([pixels[:_RING], gap[:_RING]]).ravel(),
            np.hstack([pixels[-_RING:], gap[:_RING]]).ravel(),
            np.hstack([pixels[:, :_RING].T, gap[:_RING]]).ravel(),
            np.hstack([pixels[:, -_RING:].T, gap[:_RING]]).ravel(),
        ]
    )
    # Only flat stretches of the outer lines vote: a picture reaching the edge is textured there.
    with np.errstate(invalid="ignore"):
        flat = ring[1:][np.abs(np.diff(ring)) <= _FLAT_STEP]
    counts = np.bincount(np.clip(np.rint(flat).astype(np.int64), 0, 255), minlength=256)
    around = np.convolve(counts, np.ones(2 * _COLOUR_TOLERANCE + 1, dtype=np.int64), mode="same")
    dominant = np.flatnonzero((counts > 0) & (around >= _DOMINANT * ring_size))
    if dominant.size == 0:
        return None
    palette = np.zeros(256, dtype=bool)
    for level in dominant:
        palette[max(0, level - _COLOUR_TOLERANCE) : level + _COLOUR_TOLERANCE + 1] = True
    interface = palette[levels]
    # Interface colours are flat; a textured patch of the same grey belongs to the picture. A
    # pixel is flat along an axis when it steps little to at least one neighbour on it, so the
    # page pixel next to the picture's edge is flat (it matches the page beyond it).
    for axis in (0, 1):
        steps = np.abs(np.diff(pixels, axis=axis)) <= _FLAT_STEP
        along = np.zeros_like(interface)
        lead, lag = (along[1:], along[:-1]) if axis == 0 else (along[:, 1:], along[:, :-1])
        lead |= steps  # flat towards the neighbour before
        lag |= steps  # flat towards the neighbour after
        interface &= along
    rows, cols = height // cell, width // cell
    blocks = interface[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell)
    cells: npt.NDArray[np.bool_] = blocks.mean(axis=(1, 3)) >= _INTERFACE_SHARE
    return interface, cells


@cache
def _column_ranges(cols: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every ``(start, end)`` range of ``cols`` columns, as two index arrays."""
    starts, ends = np.triu_indices(cols + 1, k=1)
    starts.setflags(write=False)
    ends.setflags(write=False)
    return starts, ends


def best_rectangle(score: FloatArray) -> tuple[float, Box]:
    """The axis-aligned block of a score grid with the largest sum, and that sum.

    For every range of columns at once, the best range of rows is the largest rise of the
    running (prefix) sum down the rows over its lowest point so far: a handful of whole-array
    operations on ``rows x cols^2`` strips, no loop per row. Ties go to the first range of
    columns, then the first bottom row, then the last top row (as Kadane's scan would).

    Returns:
        The sum and the block as ``(left, top, right, bottom)`` cell indices (exclusive ends).
    """
    rows, cols = score.shape
    prefix = np.zeros((rows, cols + 1), dtype=np.float32)
    np.cumsum(score, axis=1, out=prefix[:, 1:])
    starts, ends = _column_ranges(cols)
    # running[r, s]: sum of strip s over rows 0..r-1 (row 0 is the empty sum)
    running = np.zeros((rows + 1, starts.size), dtype=np.float32)
    np.cumsum(prefix[:, ends] - prefix[:, starts], axis=0, out=running[1:])
    lowest = np.minimum.accumulate(running[:-1], axis=0)
    gains = running[1:] - lowest
    bottoms = np.argmax(gains, axis=0)
    best = gains[bottoms, np.arange(starts.size)]
    pick = int(np.argmax(best))
    bottom = int(bottoms[pick]) + 1
    column = running[:bottom, pick]
    top = bottom - 1 - int(np.argmin(column[::-1]))
    return float(best[pick]), (int(starts[pick]), top, int(ends[pick]), bottom)


def _snap(interface: npt.NDArray[np.bool_], box: Box, reach: int) -> Box:
    """Move each side of ``box`` onto the picture's edge, pixel by pixel.

    A line (a row or column across the box) is margin when at least :data:`_MARGIN_LINE` of it
    is interface. A side first moves in over margin lines, then out over picture lines until the
    next line out is margin or the image ends, by at most ``reach`` pixels each way: the coarse
    grid misplaces a side by a few cells where the picture's own edge region happens to look
    like the interface (a pale sky against a white page).
    """
    left, top, right, bottom = box
    height, width = interface.shape
    for _ in range(2):  # the second round sees the extents the first one settled
        rows, cols = interface[top:bottom], interface[:, left:right]

        def margin_col(x: int, rows: npt.NDArray[np.bool_] = rows) -> bool:
            return bool(rows[:, x].mean() >= _MARGIN_LINE)

        def margin_row(y: int, cols: npt.NDArray[np.bool_] = cols) -> bool:
            return bool(cols[y].mean() >= _MARGIN_LINE)

        left = _move(left, +1, margin_col, reach, low=0, high=right - 1)
        right = _move(right - 1, -1, margin_col, reach, low=left, high=width - 1) + 1
        top = _move(top, +1, margin_row, reach, low=0, high=bottom - 1)
        bottom = _move(bottom - 1, -1, margin_row, reach, low=top, high=height - 1) + 1
    return left, top, right, bottom


def _move(side: int, inward: int, is_margin: Callable[[int], bool], reach: int, *, low: int, high: int) -> int:
    """Where the first picture line of a side lies (``inward`` is +1 for left/top, -1 for right/bottom)."""
    start = side
    while is_margin(side) and abs(side - start) < reach and low <= side + inward <= high:
        side += inward
    start = side
    while low <= side - inward <= high and not is_margin(side - inward) and abs(side - start) < reach:
        side -= inward
    return side


def deframe_box(pixels: FloatArray) -> Box | None:
    """The picture inside an interface frame (screenshot, caption bar) of a grayscale array, or None.

    The picture is the rectangle richest in picture cells (see the module's constants). It is
    kept only when the frame around it is mostly interface, the rectangle itself mostly
    picture, and its area within :data:`_AREA` of the image; its sides are then moved onto the
    picture's edge at full resolution (:func:`_snap`).

    Args:
        pixels: ``(height, width)`` grey levels.
    """
    height, width = pixels.shape
    cell = max(2, -(-max(height, width) // _CELLS))
    found = _interface(pixels, cell)
    if found is None or min(found[1].shape) < 8:
        return None
    pixel_interface, interface = found
    rows, cols = interface.shape
    score = np.where(interface, np.float32(-_INTERFACE_COST), np.float32(1.0)).astype(np.float32)
    total, (left, top, right, bottom) = best_rectangle(score)
    area = (right - left) * (bottom - top)
    if total <= 0 or not _AREA[0] <= area / interface.size <= _AREA[1]:
        return None
    inside = int(interface[top:bottom, left:right].sum())
    around = int(interface.sum()) - inside
    if inside > _MAX_PICTURE_INTERFACE * area or around < _MIN_FRAME_INTERFACE * (interface.size - area):
        return None
    # Cell to pixel; a side on the grid's last cell is the image's edge (the grid drops a remainder).
    coarse = (
        left * cell,
        top * cell,
        width if right == cols else right * cell,
        height if bottom == rows else bottom * cell,
    )
    box = _snap(pixel_interface, coarse, _SNAP_CELLS * cell)
    if not _keeps_enough(box, pixels.shape) or _same_box(box, (0, 0, width, height), pixels.shape):
        return None
    return box


# Unrotate ------------------------------------------------------------------------------------

_TURNS = {
    # (side, end) whose corner triangle has its long leg along that side, for each direction:
    # Pillow's counter-clockwise (positive) turn, and the clockwise one.
    1.0: frozenset({("top", 0), ("bottom", 1), ("left", 1), ("right", 0)}),
    -1.0: frozenset({("top", 1), ("bottom", 0), ("left", 0), ("right", 1)}),
}


def _bare_depth(bare: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Per column of ``bare`` (rows from the edge inwards), how many leading pixels are bare."""
    covered = ~bare
    depth: npt.NDArray[np.int64] = np.where(covered.any(axis=0), np.argmax(covered, axis=0), bare.shape[0])
    return depth.astype(np.int64)


def _robust_slope(depth: npt.NDArray[np.int64]) -> float:
    """Theil-Sen slope of ``depth`` against position, on at most :data:`_SLOPE_POINTS` points."""
    picks = np.linspace(0, len(depth) - 1, min(len(depth), _SLOPE_POINTS)).astype(np.int64)
    x, y = picks.astype(np.float64), depth[picks].astype(np.float64)
    dx, dy = x[None, :] - x[:, None], y[None, :] - y[:, None]
    ahead = dx > 0
    return float(np.median(dy[ahead] / dx[ahead]))


def _corner_angles(bare: npt.NDArray[np.bool_]) -> dict[tuple[str, int], float]:
    """Angle, in degrees, of each bare corner triangle measured along its long leg."""
    sides = {"top": bare, "bottom": bare[::-1], "left": bare.T, "right": bare.T[::-1]}
    angles: dict[tuple[str, int], float] = {}
    for name, lines in sides.items():
        depth = _bare_depth(lines[: max(1, lines.shape[0] // 4)])
        for end in (0, 1):
            run = depth if end == 0 else depth[::-1]
            if run[0] < 1:
                continue
            stop = int(np.argmax(run == 0)) if (run == 0).any() else len(run)
            if stop < _MIN_LEG or stop > 0.9 * len(run):
                continue
            slope = _robust_slope(run[1 : stop - 1])
            if slope < 0 and (angle := float(np.degrees(np.arctan(-slope)))) < 45:
                angles[(name, end)] = angle
    return angles


def rotation_angle(pixels: FloatArray) -> float | None:
    """The angle a picture was turned by inside a same-size frame with bare corners, or None.

    Args:
        pixels: ``(height, width)`` grey levels.

    Returns:
        Degrees counter-clockwise, as Pillow's ``rotate`` takes them (negative: clockwise);
        None unless at least three corner triangles, all on the same turn's legs, agree within
        :data:`_ANGLE_AGREEMENT` on an angle in :data:`_ANGLE_RANGE`.
    """
    corners = np.array([pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]], dtype=np.float32)
    fill = float(np.median(corners))
    if float(np.abs(corners - fill).max()) > _CORNER_TOLERANCE:
        return None
    angles = _corner_angles(np.abs(pixels - fill) <= _CORNER_TOLERANCE)
    for sign, legs in _TURNS.items():
        found = [angle for key, angle in angles.items() if key in legs]
        if len(found) < 3 or len(found) < len(angles):
            continue
        middle = float(np.median(found))
        if max(abs(a - middle) for a in found) <= _ANGLE_AGREEMENT and _ANGLE_RANGE[0] <= middle <= _ANGLE_RANGE[1]:
            return sign * middle
    return None


def _bare_mask(width: int, height: int, degrees: float) -> npt.NDArray[np.bool_]:
    """Pixels that a turn by ``degrees`` (Pillow's sense, same size) leaves without picture."""
    angle = np.radians(degrees)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    dx, dy = xs - width / 2, ys - height / 2
    # Where Pillow's rotate samples each output pixel from (checked against it in the tests).
    src_x = np.cos(angle) * dx - np.sin(angle) * dy + width / 2
    src_y = np.sin(angle) * dx + np.cos(angle) * dy + height / 2
    mask: npt.NDArray[np.bool_] = (src_x < 0) | (src_x >= width) | (src_y < 0) | (src_y >= height)
    return mask


def unrotate(image: Image.Image, degrees: float) -> Image.Image:
    """Turn a picture back by ``degrees``, its bare and lost corners filled with its mean colour.

    A flat mean fill keeps the low frequencies PDQ and pHash read closer to the original's than
    the black (or other) fill of the bare corners would.

    Args:
        image: Mode L or RGB, turned by ``degrees`` (see :func:`rotation_angle`).
        degrees: Counter-clockwise angle the picture was turned by.
    """
    array = np.asarray(image, dtype=np.float32)
    bare = _bare_mask(image.width, image.height, degrees)
    mean = array[~bare].mean(axis=0)
    array = array.copy()
    array[bare] = mean
    filled = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), image.mode)
    fill = tuple(round(float(v)) for v in np.atleast_1d(mean))
    return filled.rotate(-degrees, resample=Image.Resampling.BILINEAR, fillcolor=fill[0] if len(fill) == 1 else fill)


# Uncrop --------------------------------------------------------------------------------------


def uncrop(image: Image.Image, margin: float) -> Image.Image:
    """The image with its outermost rows and columns repeated outwards by ``margin`` of each side.

    Args:
        image: Mode L or RGB.
        margin: Share of the width (height) added on the left and on the right (top, bottom).
    """
    pad_x, pad_y = max(1, round(image.width * margin)), max(1, round(image.height * margin))
    array = np.asarray(image)
    widths = ((pad_y, pad_y), (pad_x, pad_x)) + (((0, 0),) if array.ndim == 3 else ())
    return Image.fromarray(np.pad(array, widths, mode="edge"), image.mode)

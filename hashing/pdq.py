"""Hashing stage, PDQ in numpy: Meta's algorithm, computed from a reduced decode as if from the full image.

Meta's reference (``pdqHash256FromFloatLuma``, which the ``pdqhash`` package wraps) does, on the
full-resolution luma ``0.299 R + 0.587 G + 0.114 B``:

1. two passes of a box filter along each axis (Jarosz "tent"), window
   ``(n + 127) // 128`` pixels for an axis of ``n`` pixels, covering output ``o`` with inputs
   ``[o - (w - h), o + h - 1]`` clipped to the axis, where ``h = (w + 2) // 2``;
2. decimation to 64 x 64 by taking pixel ``int((i + 0.5) * n / 64)`` along each axis;
3. quality: the sum over neighbouring pairs of ``int((u - v) * 100 / 255)`` magnitudes,
   integer-divided by 90, capped at 100;
4. a 16 x 16 DCT of the 64 x 64 buffer that skips the DC term (rows ``k = 1..16`` of
   ``sqrt(2/64) cos(pi k (2j + 1) / 128)``), and bit ``16 i + j`` set where coefficient
   ``(i, j)`` is strictly above the 128th smallest of the 256.

Steps 1 and 2 are linear, so along each axis they are one ``64 x n`` matrix. When the image was
decoded at reduced size (JPEG DCT scaling, or an integer ``reduce``), each reduced pixel is the
average of a known block of full-resolution pixels; summing the matrix's columns over each
block gives a ``64 x n_reduced`` matrix that applies Meta's full-resolution filter to the reduced
image, treating each block as flat. The result equals ``pdqhash`` on the full image within a
few bits (measured: ``benchmarks/README.md``; bit-for-bit when nothing was reduced), at a
fraction of the cost, because decoding at full size is what costs.

The eight dihedral hashes come from the same coefficients, as in Meta's
``pdqDihedralHash256esFromFloatLuma``: mirroring an axis negates its odd-index coefficients
(the DCT rows start at ``k = 1``) and transposing transposes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache

import numpy as np
import numpy.typing as npt

GRID = 64
"""Side of PDQ's decimated buffer."""
COEFFS = 16
"""Side of the kept block of DCT coefficients."""

FloatArray = npt.NDArray[np.float32]


class Dihedral(StrEnum):
    """The seven non-identity rotations and flips, named after Pillow's ``Image.Transpose``.

    Values are stable names, written as ``"pdq-dihedral:<value>"`` into ``HashValue.variant``:
    the hash of the image after that transposition (rotations are anticlockwise, like Pillow's).
    """

    ROT90 = "rot90"
    ROT180 = "rot180"
    ROT270 = "rot270"
    FLIP_LR = "flip-lr"
    FLIP_TB = "flip-tb"
    TRANSPOSE = "transpose"
    TRANSVERSE = "transverse"


@dataclass(frozen=True)
class Axis:
    """How one axis of a (possibly reduced, flipped, cropped) image maps onto the full-resolution axis.

    Reduced pixel ``k`` of the stored, uncropped axis covers full pixels ``[k * factor,
    min((k + 1) * factor, full))``. ``mirrored`` says the displayed axis runs the other way
    (EXIF orientation); ``start`` and ``stop`` select displayed reduced pixels (a crop).

    Attributes:
        full: Length of the full-resolution axis, in pixels.
        factor: Integer reduction: each reduced pixel averages this many full pixels.
        mirrored: Whether the displayed axis is reversed against the stored one.
        start: First displayed reduced pixel kept.
        stop: One past the last displayed reduced pixel kept (``None``: to the end).
    """

    full: int
    factor: int = 1
    mirrored: bool = False
    start: int = 0
    stop: int | None = None

    @property
    def reduced(self) -> int:
        """Length of the displayed (reduced, cropped) axis."""
        whole = -(-self.full // self.factor)
        return (whole if self.stop is None else self.stop) - self.start

    def edges(self) -> npt.NDArray[np.int64]:
        """Full-resolution boundaries of the displayed reduced pixels, starting at 0."""
        whole = -(-self.full // self.factor)
        stored = np.minimum(np.arange(whole + 1, dtype=np.int64) * self.factor, self.full)
        edges = self.full - stored[::-1] if self.mirrored else stored
        stop = whole if self.stop is None else self.stop
        kept = edges[self.start : stop + 1]
        shifted: npt.NDArray[np.int64] = kept - kept[0]
        return shifted

    def crop(self, start: int, stop: int) -> Axis:
        """The same axis restricted to displayed reduced pixels ``[start, stop)``."""
        return Axis(self.full, self.factor, self.mirrored, self.start + start, self.start + stop)


def plain_axis(length: int) -> Axis:
    """An axis that was not reduced: PDQ of such an image equals ``pdqhash`` on the same pixels."""
    return Axis(full=length)


def _window(length: int) -> int:
    return (length + 2 * GRID - 1) // (2 * GRID)


@dataclass(frozen=True)
class Band:
    """One axis's filter-and-decimate operator in banded form.

    Output ``i`` is ``sum(weights[i, b] * pixel[index[i, b]])``: each of the 64 outputs reads a
    short run of the axis (about two filter windows), so applying it costs a few multiply-adds
    per pixel instead of 64.

    Attributes:
        index: ``(64, width)`` pixel indices (padding repeats a valid index with weight 0).
        weights: ``(64, width)`` float32 weights.
    """

    index: npt.NDArray[np.intp]
    weights: FloatArray

    def dense(self, length: int) -> npt.NDArray[np.float64]:
        """The same operator as a ``(64, length)`` matrix (for tests and reasoning)."""
        matrix = np.zeros((GRID, length))
        np.add.at(matrix, (np.arange(GRID)[:, None], self.index), self.weights)
        return matrix


def _full_weights(full: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Full-resolution weights of the two box passes and the decimation, for the 64 outputs.

    Returns:
        ``(first, weights)``: output ``i`` reads full pixels ``first[i] + j`` with
        ``weights[i, j]`` (zero outside the axis).
    """
    window = _window(full)
    half = (window + 2) // 2
    behind, ahead = window - half, half - 1

    def count(o: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
        result: npt.NDArray[np.intp] = np.minimum(full - 1, o + ahead) - np.maximum(0, o - behind) + 1
        return result

    picks = ((np.arange(GRID) + 0.5) * full / GRID).astype(np.intp)
    # The second pass at picks[i] averages first-pass outputs o in its window; each of those
    # averages pixels x in o's window. Weight of x: sum over those o of 1 / (count(p) count(o)).
    outer = picks[:, None] + np.arange(-behind, ahead + 1)[None, :]
    valid = (outer >= 0) & (outer < full)
    share = np.where(valid, 1.0 / (count(picks)[:, None] * count(np.clip(outer, 0, full - 1))), 0.0)
    first = picks - 2 * behind
    span = 2 * (behind + ahead) + 1
    # Each o adds its share to x in [o - behind, o + ahead]: a difference array per output.
    local = (outer - behind - first[:, None]) + (span + 1) * np.arange(GRID)[:, None]
    steps = np.bincount(local.ravel(), share.ravel(), GRID * (span + 1))
    steps -= np.bincount((local + window).ravel(), share.ravel(), GRID * (span + 1))
    weights: npt.NDArray[np.float64] = np.cumsum(steps.reshape(GRID, span + 1)[:, :span], axis=1)
    pixels = first[:, None] + np.arange(span)[None, :]
    weights[(pixels < 0) | (pixels >= full)] = 0.0
    return first, weights


@lru_cache(maxsize=1024)
def band(axis: Axis) -> Band:
    """The banded operator that filters and decimates one displayed axis as on the full image."""
    edges = axis.edges()
    full = int(edges[-1])
    first, weights = _full_weights(full)
    pixels = first[:, None] + np.arange(weights.shape[1])[None, :]
    inside = np.clip(pixels, 0, full - 1)
    # Each reduced pixel stands for its block of full pixels: its weight is the block's sum.
    owner = np.searchsorted(edges, inside, side="right") - 1
    low = owner.min(axis=1)
    width = int((owner.max(axis=1) - low).max()) + 1
    slots = (owner - low[:, None]) + width * np.arange(GRID)[:, None]
    reduced = np.bincount(slots.ravel(), weights.ravel(), GRID * width).reshape(GRID, width)
    index = np.minimum(low[:, None] + np.arange(width)[None, :], axis.reduced - 1)
    result = Band(index=index, weights=reduced.astype(np.float32))
    result.index.setflags(write=False)
    result.weights.setflags(write=False)
    return result


@cache
def _dct() -> FloatArray:
    k = np.arange(1, COEFFS + 1, dtype=np.float64)[:, None]
    j = np.arange(GRID, dtype=np.float64)[None, :]
    matrix: FloatArray = (np.sqrt(2.0 / GRID) * np.cos((np.pi / 2 / GRID) * k * (2 * j + 1))).astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def luma(rgb: npt.NDArray[np.uint8]) -> FloatArray:
    """PDQ's luma of an ``(h, w, 3)`` RGB array, computed as ``pdqhash`` computes it."""
    weighted = rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114
    result: FloatArray = weighted.astype(np.float32)
    return result


def buffer64(pixels: npt.NDArray[np.uint8] | FloatArray, rows: Axis, cols: Axis) -> FloatArray:
    """PDQ's 64 x 64 buffer of a luma image whose axes map onto the full image as ``rows`` and ``cols``."""
    if pixels.shape != (rows.reduced, cols.reduced):
        raise ValueError(f"luma of shape {pixels.shape} does not fit axes of {rows.reduced} x {cols.reduced}")
    down, across = band(rows), band(cols)
    # Rows first: gather each output's run of rows, (64, run, width), and weigh them.
    gathered = pixels[down.index].astype(np.float32)
    by_rows = np.matmul(down.weights[:, None, :], gathered)[:, 0, :]
    # Then columns of that (64, width) result.
    out: FloatArray = np.einsum("ijb,jb->ij", by_rows[:, across.index], across.weights, dtype=np.float32)
    return out


def quality(buffers: FloatArray) -> npt.NDArray[np.int64]:
    """PDQ quality (0-100) of one ``(64, 64)`` buffer or a stack of them."""
    down = np.trunc((buffers[..., :-1, :] - buffers[..., 1:, :]) * 100 / 255)
    across = np.trunc((buffers[..., :, :-1] - buffers[..., :, 1:]) * 100 / 255)
    total = np.abs(down).sum(axis=(-2, -1)).astype(np.int64) + np.abs(across).sum(axis=(-2, -1)).astype(np.int64)
    result: npt.NDArray[np.int64] = np.minimum(total // 90, 100)
    return result


def coefficients(buffers: FloatArray) -> FloatArray:
    """The ``(..., 16, 16)`` DCT coefficients PDQ thresholds, of one buffer or a stack."""
    dct = _dct()
    out: FloatArray = np.asarray(dct @ buffers @ dct.T, dtype=np.float32)
    return out


def threshold(coeffs: FloatArray) -> npt.NDArray[np.bool_]:
    """Bits of one or more ``(16, 16)`` coefficient blocks, bit ``16 i + j`` first (Meta's bit order).

    Returns:
        ``(..., 256)`` booleans, index ``k`` = Meta's bit ``k``.
    """
    flat = coeffs.reshape(*coeffs.shape[:-2], COEFFS * COEFFS)
    # Meta's Torben median of 256 values is the 128th smallest.
    median = np.partition(flat, 127, axis=-1)[..., 127:128]
    bits: npt.NDArray[np.bool_] = flat > median
    return bits


def to_hex(bits: npt.NDArray[np.bool_]) -> str:
    """Meta's hex format of one hash: the 256-bit integer with bit ``k`` at ``2**k``, big-endian."""
    return np.packbits(bits[::-1]).tobytes().hex()


def dihedral_coefficients(coeffs: FloatArray) -> dict[Dihedral, FloatArray]:
    """Coefficients of the seven transposed buffers, from one ``(16, 16)`` block (Meta's shortcut)."""
    # Row/column frequency k = index + 1, so mirroring negates even indices (odd k).
    sign = np.where(np.arange(COEFFS) % 2 == 0, -1.0, 1.0).astype(np.float32)
    flip_lr = coeffs * sign[None, :]  # mirror columns
    flip_tb = coeffs * sign[:, None]  # mirror rows
    both = flip_lr * sign[:, None]
    return {
        Dihedral.FLIP_LR: flip_lr,
        Dihedral.FLIP_TB: flip_tb,
        Dihedral.ROT180: both,
        Dihedral.TRANSPOSE: coeffs.T,
        Dihedral.TRANSVERSE: both.T,
        # Pillow's ROTATE_90 (anticlockwise) is a transpose followed by a top-bottom flip.
        Dihedral.ROT90: flip_lr.T,
        Dihedral.ROT270: flip_tb.T,
    }

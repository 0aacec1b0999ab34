"""Hashing stage algorithms: exact digests (md5, sha1, sha256), perceptual ones (pdq, phash, dhash).

Every perceptual algorithm hashes the canonical working image of :class:`MediaInput` (decoded
at reduced size, upright, grayscale; see :mod:`hashing.decode` and ``hashing/README.md``).

**PDQ** is Meta's algorithm, computed in numpy by :mod:`hashing.pdq`: bit for bit what the
``pdqhash`` package (Meta's C++) returns for the same pixels, and, from a reduced decode, within
a few bits of what it returns for the full-resolution image. **PDQ hex format** (Meta's
reference text format, so hash lists from ThreatExchange tools, python-threatexchange and other
PDQ implementations interoperate): Meta's C++ ``Hash256`` keeps the 256 bits in sixteen 16-bit
words, bit ``k`` in word ``w[k // 16]`` at bit ``k % 16``, and ``Hash256::format()`` prints
``w[15]``, ``w[14]``, ..., ``w[0]`` each as four lowercase hex digits. The hex string is
therefore the 256-bit integer ``sum(bit_k << k)`` written big-endian: the first hex digit holds
bits 255..252, the last one bits 3..0. ``pdqhash.compute`` returns its bit vector already in
that printed order (element ``i`` is bit ``255 - i``). Quality is PDQ's own 0-100
gradient-energy score (Meta suggests not matching on hashes under 50; that is the matcher's
call).

**pHash** is bit-for-bit ``str(imagehash.phash(image))`` for the same PIL image: grayscale
("L"), resized to 32x32 with LANCZOS, unnormalised 2-D DCT-II (as ``scipy.fftpack.dct`` along
rows, then columns), the top-left 8x8 coefficients including DC, thresholded at their median
(bit set where the coefficient is strictly greater), bits taken row by row, most-significant
first. It is computed here with a DCT matrix, so neither imagehash nor scipy is a run-time
dependency. (Only a coefficient within rounding error of the median, which happens in flat,
featureless images, can come out differently from scipy's FFT.)

**dHash** is likewise ``str(imagehash.dhash(image))``: grayscale, LANCZOS to 9x8, a bit per
pair of horizontal neighbours, set where the left pixel is darker than the right.

:func:`phash_hex` and :func:`dhash_hex` are those exact twins. The registered pHash resizes
the working image with Pillow's ``reducing_gap`` (:data:`RESIZE_REDUCING_GAP`): a box reduction
by a whole factor first, then LANCZOS over the last 3x or more. A LANCZOS kernel spans the whole
scale factor, so this cuts the resize from about 0.7 ms to 0.3 ms a working image, and the
working image is itself a reduced decode, not the pixels imagehash would see: measured against
``imagehash`` on the fully decoded benchmark corpus, pHash was identical for 325 of 400 files
with it and 328 without (mean 0.47 and 0.46 bits; ``benchmarks/README.md``, Throughput). dHash
keeps the plain resize: its 9x8 grid moves by several bits with it, and it is not on by default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from core.messages import HashValue
from hashing import pdq
from hashing.base import Ability, HashAlgorithm, MediaInput, PerceptualHash, bits_to_hex
from hashing.decode import Raster
from hashing.pdq import Dihedral, plain_axis

EXACT = frozenset({Ability.EXACT})


class ExactDigest(HashAlgorithm):
    """A cryptographic digest of the raw bytes; never decodes the media."""

    hashlib_name: ClassVar[str]
    abilities: ClassVar[frozenset[Ability]] = EXACT

    def compute(self, media: MediaInput) -> HashValue:
        """Digest of ``media.data``."""
        return self.hash_value(hashlib.new(self.hashlib_name, media.data).hexdigest())


class Md5(ExactDigest):
    """MD5 of the bytes: broken as a cryptographic hash, but many known-media lists are in MD5."""

    name = "md5"
    version = 1
    bits = 128
    claims_hex_length = True
    hashlib_name = "md5"


class Sha1(ExactDigest):
    """SHA-1 of the bytes (the other legacy list format)."""

    name = "sha1"
    version = 1
    bits = 160
    claims_hex_length = True
    hashlib_name = "sha1"


class Sha256(ExactDigest):
    """SHA-256 of the bytes: the media's identity everywhere in orbweaver."""

    name = "sha256"
    version = 1
    bits = 256
    hashlib_name = "sha256"

    def compute(self, media: MediaInput) -> HashValue:
        """SHA-256 of ``media.data`` (shared with the batch's de-duplication)."""
        return self.hash_value(media.sha256)


def pdq_hex(rgb: npt.NDArray[np.uint8]) -> tuple[str, int]:
    """PDQ of an RGB array in Meta's hex format (see the module docstring), and its quality.

    Equal to ``pdqhash.compute`` on the same array.

    Args:
        rgb: ``(height, width, 3)`` uint8 array.

    Returns:
        64 lowercase hex digits and the 0-100 quality.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"need an (h, w, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    buffer = pdq.buffer64(pdq.luma(rgb), plain_axis(rgb.shape[0]), plain_axis(rgb.shape[1]))
    return pdq.to_hex(pdq.threshold(pdq.coefficients(buffer))), int(pdq.quality(buffer))


def _luma(raster: Raster) -> pdq.FloatArray:
    return np.asarray(raster.image, dtype=np.float32)


class Pdq(PerceptualHash):
    """Meta's PDQ: 256-bit perceptual hash with a quality score, the industry's exchange format."""

    name = "pdq"
    version = 1
    bits = 256
    abilities = frozenset({Ability.PERCEPTUAL, Ability.QUALITY, Ability.DIHEDRAL})
    # Calibrated with pHash's (see matcher/settings.py): 31 is Meta's match bound and the index
    # radius; 24 keeps a margin under it. 64 hex digits name PDQ, not SHA-256, as Meta's lists do.
    thresholds = (24, 31)
    claims_hex_length = True

    def hash_raster(self, raster: Raster) -> HashValue:
        """PDQ of a working image, as Meta's reference computes it on the full-resolution original."""
        return self.hash_rasters([raster])[0]

    def hash_rasters(self, rasters: Sequence[Raster]) -> list[HashValue]:
        """PDQ of many working images: one filter per image, then one batched DCT and threshold."""
        if not rasters:
            return []
        buffers = np.stack([pdq.buffer64(_luma(r), r.rows, r.cols) for r in rasters])
        bits = pdq.threshold(pdq.coefficients(buffers))
        qualities = pdq.quality(buffers)
        return [self.hash_value(pdq.to_hex(b), int(q)) for b, q in zip(bits, qualities, strict=True)]

    def dihedral(self, raster: Raster) -> dict[Dihedral, HashValue]:
        """The seven rotated and flipped hashes from the image's own DCT, as Meta's reference does."""
        buffer = pdq.buffer64(_luma(raster), raster.rows, raster.cols)
        quality = int(pdq.quality(buffer))
        variants = pdq.dihedral_coefficients(pdq.coefficients(buffer))
        return {name: self.hash_value(pdq.to_hex(pdq.threshold(variants[name])), quality) for name in Dihedral}


_PHASH_SIZE = 8
_PHASH_IMAGE = 32


@cache
def _dct_rows(size: int, keep: int) -> npt.NDArray[np.float64]:
    """Build the first ``keep`` rows of the unnormalised DCT-II matrix of scipy.fftpack.dct."""
    k = np.arange(keep, dtype=np.float64)[:, None]
    n = np.arange(size, dtype=np.float64)[None, :]
    matrix = 2.0 * np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * size))
    matrix.setflags(write=False)
    return matrix


RESIZE_REDUCING_GAP = 3.0
"""Pillow ``reducing_gap`` of the registered pHash (see the module docstring)."""


def _phash_pixels(image: Image.Image, reducing_gap: float | None = None) -> npt.NDArray[np.float64]:
    size = (_PHASH_IMAGE, _PHASH_IMAGE)
    gray = image.convert("L").resize(size, Image.Resampling.LANCZOS, reducing_gap=reducing_gap)
    return np.asarray(gray, dtype=np.float64)


def _phash_bits(pixels: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Compute the pHash bits of ``(..., 32, 32)`` pixels: ``(..., 8, 8)`` booleans."""
    dct = _dct_rows(_PHASH_IMAGE, _PHASH_SIZE)
    # DCT down the columns, then along the rows, keeping only the low 8x8 frequencies
    low = dct @ pixels @ dct.T
    median = np.median(low, axis=(-2, -1), keepdims=True)
    bits: npt.NDArray[np.bool_] = low > median
    return bits


def phash_hex(image: Image.Image) -> str:
    """Compute the 16-hex-digit pHash of a PIL image, equal to ``str(imagehash.phash(image))``."""
    return bits_to_hex(_phash_bits(_phash_pixels(image)))


class PHash(PerceptualHash):
    """DCT perceptual hash, 64 bits, compatible with the ``imagehash`` library's ``phash``."""

    name = "phash"
    version = 1
    bits = 64
    abilities = frozenset({Ability.PERCEPTUAL})
    thresholds = (2, 8)  # calibrated: see matcher/settings.py
    # Measured by `python -m benchmarks.run list_scale` (benchmarks/README.md, "List scale"): the
    # widest radius that keeps false reviews <= 1 per 10,000 non-matching images at each size.
    review_by_entries = ((20_000, 8), (1_000_000, 6), (10_000_000, 4), (None, 2))
    claims_hex_length = True

    def hash_raster(self, raster: Raster) -> HashValue:
        """Compute the pHash of a working image."""
        return self.hash_rasters([raster])[0]

    def hash_rasters(self, rasters: Sequence[Raster]) -> list[HashValue]:
        """Compute the pHashes of many working images with one batched DCT."""
        if not rasters:
            return []
        bits = _phash_bits(np.stack([_phash_pixels(r.image, RESIZE_REDUCING_GAP) for r in rasters]))
        return [self.hash_value(bits_to_hex(b)) for b in bits]


def _dhash_pixels(image: Image.Image) -> npt.NDArray[np.uint8]:
    return np.asarray(image.convert("L").resize((_PHASH_SIZE + 1, _PHASH_SIZE), Image.Resampling.LANCZOS))


def dhash_hex(image: Image.Image) -> str:
    """Compute the 16-hex-digit dHash of a PIL image, equal to ``str(imagehash.dhash(image))``."""
    pixels = _dhash_pixels(image)
    return bits_to_hex(pixels[:, 1:] > pixels[:, :-1])


class DHash(PerceptualHash):
    """Gradient (difference) hash, 64 bits, compatible with ``imagehash.dhash``; cheap, weaker."""

    name = "dhash"
    version = 1
    bits = 64
    abilities = frozenset({Ability.PERCEPTUAL})
    # Not calibrated like pdq and phash (it is off by default): only an identical dHash is a
    # confident match, and review stays below pHash's 8 because the 9x8 grid is the weaker hash.
    thresholds = (0, 6)

    def hash_raster(self, raster: Raster) -> HashValue:
        """Compute the dHash of a working image."""
        return self.hash_rasters([raster])[0]

    def hash_rasters(self, rasters: Sequence[Raster]) -> list[HashValue]:
        """Compute the dHashes of many working images in one comparison."""
        if not rasters:
            return []
        pixels = np.stack([_dhash_pixels(r.image) for r in rasters])
        bits = pixels[..., 1:] > pixels[..., :-1]
        return [self.hash_value(bits_to_hex(b)) for b in bits]

"""Hashing stage interface: what a hash algorithm is, the media it reads, and hex/bit helpers.

A hash algorithm is one class with an explicit, never-changing ``name`` (a storage key), a
``version``, a width in ``bits``, declared ``abilities`` and one method, :meth:`compute`. It
reads a :class:`MediaInput`: exact hashes read only the raw bytes, perceptual hashes
(:class:`PerceptualHash`, one more method: :meth:`~PerceptualHash.hash_raster`) read the lazily
decoded working image, so bytes that never decode still get their exact hashes. Batches go
through :meth:`HashAlgorithm.compute_batch`, which returns per-item failures as data and which
an algorithm may override with a vectorised version (it must equal hashing one by one).

Hex convention, shared by every algorithm here and by the matcher: a hash is a lowercase hex
string of ``bits / 4`` characters; bit ``i`` of the hash (in the order the algorithm produces
its bits) is bit ``7 - i % 8`` of byte ``i // 8`` of ``bytes.fromhex(value)``, i.e. bits are
written most-significant-first. The Hamming distance does not depend on this order, but
interoperability with other tools' hash lists does.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from core.messages import HashValue
from hashing.decode import (
    DecodedImage,
    DecodeLimits,
    MediaDecodeError,
    Raster,
    decode_image,
    transpose_raster,
)
from hashing.pdq import Dihedral

TRANSPOSITIONS: dict[Dihedral, Image.Transpose] = {
    Dihedral.ROT90: Image.Transpose.ROTATE_90,
    Dihedral.ROT180: Image.Transpose.ROTATE_180,
    Dihedral.ROT270: Image.Transpose.ROTATE_270,
    Dihedral.FLIP_LR: Image.Transpose.FLIP_LEFT_RIGHT,
    Dihedral.FLIP_TB: Image.Transpose.FLIP_TOP_BOTTOM,
    Dihedral.TRANSPOSE: Image.Transpose.TRANSPOSE,
    Dihedral.TRANSVERSE: Image.Transpose.TRANSVERSE,
}
"""Each dihedral variant as the Pillow transposition that produces it."""


class Ability(StrEnum):
    """What an algorithm can do; values are stable and may be stored."""

    EXACT = "exact"
    """Cryptographic digest of the raw bytes: equal only for byte-identical media."""
    PERCEPTUAL = "perceptual"
    """Similar-looking images give hashes a small Hamming distance apart."""
    QUALITY = "quality"
    """Reports a 0-100 quality with each hash (low quality: flat, featureless image)."""
    DIHEDRAL = "dihedral"
    """Computes its eight rotation/flip hashes natively (cheaply); the stage emits them."""


class MediaInput:
    """One piece of fetched media as the algorithms see it.

    The raw bytes are always there; the image is decoded on first use, at most once, and the
    outcome (image or :class:`~hashing.decode.MediaDecodeError`) is kept, so perceptual
    algorithms share one decode and exact algorithms never trigger one.
    """

    def __init__(self, data: bytes, *, limits: DecodeLimits | None = None) -> None:
        self._data = data
        self._limits = limits or DecodeLimits()
        self._decoded: DecodedImage | None = None
        self._error: MediaDecodeError | None = None
        self._sha256: str | None = None

    @property
    def data(self) -> bytes:
        """The raw media bytes, as fetched."""
        return self._data

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes, computed once (it is both a hash and the media's identity)."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self._data).hexdigest()
        return self._sha256

    @property
    def limits(self) -> DecodeLimits:
        """The limits the media is decoded under."""
        return self._limits

    @property
    def decode_attempted(self) -> bool:
        """Whether anything has asked for the image yet."""
        return self._decoded is not None or self._error is not None

    @property
    def decoded(self) -> DecodedImage:
        """The decoded first frame and what was learnt while decoding it.

        Raises:
            MediaDecodeError: If the bytes are not a decodable image within the limits.
        """
        if self._error is not None:
            raise self._error
        if self._decoded is None:
            try:
                self._decoded = decode_image(self._data, self._limits)
            except MediaDecodeError as exc:
                self._error = exc
                raise
        return self._decoded

    @property
    def image(self) -> Image.Image:
        """The working image: first frame, EXIF orientation applied, grayscale (L), reduced.

        Raises:
            MediaDecodeError: If the bytes are not a decodable image within the limits.
        """
        return self.decoded.image

    @property
    def canonical_raster(self) -> Raster:
        """The working image as perceptual hashes read it, with its axes: the media as given.

        Nothing is trimmed or cut here: the hash of the media as given must stay comparable with
        hashes made by other tools (Meta's PDQ, imagehash) from the same file. Recovering from
        borders and other edits is the job of the query-side variants.

        Raises:
            MediaDecodeError: If the bytes are not a decodable image within the limits.
        """
        return self.decoded.raster

    @property
    def canonical(self) -> Image.Image:
        """The working image (see :attr:`canonical_raster`).

        Raises:
            MediaDecodeError: If the bytes are not a decodable image within the limits.
        """
        return self.canonical_raster.image


HashResult = HashValue | MediaDecodeError
"""One item of a batch: its hash, or why it has none."""


class HashAlgorithm(ABC):
    """One hash algorithm. Subclasses set the class attributes and implement :meth:`compute`.

    Attributes:
        name: Storage key, written into every stored hash; never derived from the class name
            and never changed once released (a rename orphans every stored hash).
        version: Bumped whenever the same media could hash differently (e.g. a new
            preprocessing step); hashes of different versions must not be compared.
        bits: Width of the hash; the hex value has ``bits // 4`` characters.
        abilities: What the algorithm can do.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    bits: ClassVar[int]
    abilities: ClassVar[frozenset[Ability]]
    thresholds: ClassVar[tuple[int, int] | None] = None
    """Perceptual only: the default ``(match, review)`` Hamming distances the matcher uses
    unless its settings name others (see ``MatcherSettings.thresholds``); None for exact hashes."""
    review_by_entries: ClassVar[tuple[tuple[int | None, int], ...]] = ()
    """Perceptual only: ``(up to this many entries, review radius)`` steps, ascending, the last
    with None (any size). The matcher searches a list of ``n`` entries of this algorithm within
    the radius of the first step that holds ``n`` (never above the ``review`` threshold), because
    a non-matching image meets every entry: a pair rate that is harmless against 10,000 entries
    is not against millions. Empty: one radius for every list size (codes long enough to have
    no measurable tail, such as PDQ's 256 bits)."""
    claims_hex_length: ClassVar[bool] = False
    """Whether a list value of ``bits // 4`` hex digits that names no algorithm is this one;
    at most one algorithm may claim each length (the registry refuses two)."""

    @classmethod
    def is_perceptual(cls) -> bool:
        """Whether near values mean similar media (a Hamming radius above 0 makes sense)."""
        return Ability.PERCEPTUAL in cls.abilities

    @classmethod
    def hex_len(cls) -> int:
        """Number of hex digits in one value."""
        return cls.bits // 4

    @classmethod
    def parse_hex(cls, text: str) -> str:
        """Normalise a value of this algorithm to the stored form: stripped, lowercase hex.

        Raises:
            ValueError: With the reason, if it is not hex of :meth:`hex_len` digits.
        """
        value = text.strip().lower()
        if len(value) != cls.hex_len() or not is_hex(value):
            raise ValueError(f"a {cls.name} hash is {cls.hex_len()} hex digits (0-9, a-f)")
        return value

    @abstractmethod
    def compute(self, media: MediaInput) -> HashValue:
        """Hash one piece of media.

        Args:
            media: The media; exact algorithms read ``media.data`` only.

        Returns:
            The hash, with ``quality`` set exactly when the algorithm has :attr:`Ability.QUALITY`.

        Raises:
            MediaDecodeError: If a perceptual algorithm needs an image the bytes do not hold.
        """

    def compute_batch(self, media: Sequence[MediaInput]) -> list[HashResult]:
        """Hash many pieces of media; equal, item for item, to :meth:`compute` on each.

        Returns:
            One entry per input, in order: the hash, or the decode failure as data.
        """
        results: list[HashResult] = []
        for item in media:
            try:
                results.append(self.compute(item))
            except MediaDecodeError as exc:
                results.append(exc)
        return results

    def hash_value(self, value: str, quality: int | None = None, variant: str = "") -> HashValue:
        """Wrap a hex value into the bus record, with this algorithm's name and version."""
        return HashValue(algorithm=self.name, version=self.version, value=value, quality=quality, variant=variant)


class PerceptualHash(HashAlgorithm):
    """A hash of what an image looks like: implement :meth:`hash_raster`; the rest follows.

    Overriding :meth:`hash_rasters` (vectorised batches) or :meth:`dihedral` (native
    rotations) is allowed; the contract kit checks both against the plain definitions.
    """

    @abstractmethod
    def hash_raster(self, raster: Raster) -> HashValue:
        """Hash one working image (grayscale; its axes say how it was reduced from the original)."""

    def hash_rasters(self, rasters: Sequence[Raster]) -> list[HashValue]:
        """Hash many working images; equal, item for item, to :meth:`hash_raster`."""
        return [self.hash_raster(raster) for raster in rasters]

    def hash_image(self, image: Image.Image) -> HashValue:
        """Hash a Pillow image as it is (any mode; nothing was reduced)."""
        return self.hash_raster(Raster.plain(image))

    def dihedral(self, raster: Raster) -> dict[Dihedral, HashValue]:
        """The hashes of the seven rotations and flips of a working image, by transposing it."""
        return {name: self.hash_raster(transpose_raster(raster, method)) for name, method in TRANSPOSITIONS.items()}

    def compute(self, media: MediaInput) -> HashValue:
        """Hash the canonical working image of ``media``."""
        return self.hash_raster(media.canonical_raster)

    def compute_batch(self, media: Sequence[MediaInput]) -> list[HashResult]:
        """Decode each item (failures as data), then hash the decoded ones in one :meth:`hash_rasters` call."""
        results: list[HashResult | None] = []
        rasters: list[Raster] = []
        for item in media:
            try:
                rasters.append(item.canonical_raster)
                results.append(None)
            except MediaDecodeError as exc:
                results.append(exc)
        hashed = iter(self.hash_rasters(rasters))
        return [next(hashed) if result is None else result for result in results]


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def is_hex(value: str) -> bool:
    """Whether ``value`` is a non-empty, even-length hex string (either case)."""
    return bool(value) and not len(value) % 2 and _HEX_DIGITS.issuperset(value)


def _check_hex(value: str) -> None:
    if not is_hex(value):
        raise ValueError(f"not an even-length hex string: {value!r}")


def hamming_hex(a: str, b: str) -> int:
    """Count the bits that differ between two hex hashes of the same length.

    Raises:
        ValueError: If either is not hex or their lengths differ.
    """
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {len(a)} and {len(b)} hex digits")
    _check_hex(a)
    _check_hex(b)
    return (int(a, 16) ^ int(b, 16)).bit_count()


def bits_to_hex(bits: npt.ArrayLike) -> str:
    """Hex string of a bit vector, most-significant bit first (see the module docstring).

    Args:
        bits: Truthy/falsy values; their count must be a multiple of 8.

    Raises:
        ValueError: If the number of bits is not a positive multiple of 8.
    """
    flat = np.asarray(bits).reshape(-1).astype(bool)
    if flat.size == 0 or flat.size % 8:
        raise ValueError(f"need a positive multiple of 8 bits, got {flat.size}")
    return np.packbits(flat).tobytes().hex()


def hex_to_bits(value: str) -> npt.NDArray[np.uint8]:
    """Unpack a hex hash into 0/1 uint8 bits, most-significant first (inverse of bits_to_hex).

    Raises:
        ValueError: If the value is not an even-length hex string.
    """
    _check_hex(value)
    return np.unpackbits(np.frombuffer(bytes.fromhex(value), dtype=np.uint8))


def hex_to_codes(values: Sequence[str], *, bits: int | None = None) -> npt.NDArray[np.uint8]:
    """Pack many hex hashes into one ``(n, bits // 8)`` uint8 array (FAISS binary-index layout).

    Byte ``j`` of row ``i`` is byte ``j`` of ``bytes.fromhex(values[i])``.

    Args:
        values: Hex hashes, all of the same length.
        bits: Expected width; required to shape an empty input, checked otherwise.

    Raises:
        ValueError: On non-hex input, mixed lengths, a width that differs from ``bits``, or an
            empty input without ``bits``.
    """
    if not values:
        if bits is None:
            raise ValueError("an empty list of hashes needs an explicit bits= to shape it")
        return np.zeros((0, bits // 8), dtype=np.uint8)
    width = len(values[0])
    if bits is not None and width * 4 != bits:
        raise ValueError(f"expected {bits // 4} hex digits, got {width}")
    if any(len(v) != width for v in values):
        raise ValueError("hashes of different lengths cannot share one code array")
    joined = "".join(values)
    try:
        raw = bytes.fromhex(joined)
    except ValueError as exc:
        raise ValueError("not a list of hex hashes") from exc
    if width % 2 or len(raw) * 2 != len(joined):
        # fromhex skips whitespace, so a space could hide inside an otherwise valid row
        raise ValueError("not a list of even-length hex hashes")
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), width // 2).copy()


def codes_to_hex(codes: npt.NDArray[np.uint8]) -> list[str]:
    """Hex hashes of the rows of a ``(n, bytes)`` uint8 array; inverse of :func:`hex_to_codes`."""
    array = np.ascontiguousarray(codes, dtype=np.uint8)
    if array.ndim != 2:
        raise ValueError(f"need a 2-D code array, got shape {array.shape}")
    return [row.tobytes().hex() for row in array]

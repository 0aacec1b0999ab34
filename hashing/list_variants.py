"""Hashing, list side: the edits global hashes cannot undo, hashed ahead on the known picture itself.

Where orbweaver holds the image behind a known entry (a list built with ``orbweaver hashset
add-images``, or media an analyst confirmed), it stores besides the picture's own hashes the
hashes of a family of crops of it, each an entry tagged as a *list-side variant* of its parent.
A re-upload cropped by about as much then lands near one of them although it is far from the
parent: PDQ and pHash are global, so a crop of 10% moves them out of reach, and the query side
(``hashing/variants.py``) cannot know what was cut away.

The family (:func:`crop_family`): centre crops cutting :data:`FRACTIONS` off every side, and
corner crops cutting the same share off the two sides that meet at one corner (the copy keeps
the opposite corner). The names are storage keys (``hash_entries.variant``, hits, the review
page): never rename one. They differ from the query-side names (``trimmed``...), which say what
was done to the *media*, while these say what was done to the *known picture*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image

from core.messages import HashValue
from hashing import registry
from hashing.base import MediaInput, PerceptualHash
from hashing.decode import Raster, to_rgb

FRACTIONS = (0.05, 0.10, 0.15, 0.20)
"""Shares of a side the family cuts (the issue's 5-20%)."""
ALGORITHMS = ("pdq", "phash")
"""Algorithms that hash each list-side variant."""
MIN_SIDE = 32
"""Pictures smaller than this on either side get no variants (a crop of them is mostly edge)."""


class Corner(StrEnum):
    """Where a crop cuts: every side (``c``) or the two sides meeting at a corner."""

    CENTRE = "c"
    TOP_LEFT = "tl"
    TOP_RIGHT = "tr"
    BOTTOM_LEFT = "bl"
    BOTTOM_RIGHT = "br"


@dataclass(frozen=True)
class ListVariant:
    """One crop of a known picture.

    Attributes:
        name: Storage key, ``crop-<corner><percent>`` (``crop-c10``: 10% off every side;
            ``crop-tl05``: 5% off the top and the left).
        image: The cropped picture.
    """

    name: str
    image: Image.Image


def variant_name(corner: Corner, fraction: float) -> str:
    """The storage key of a crop, e.g. ``crop-br15``."""
    return f"crop-{corner.value}{round(fraction * 100):02d}"


def crop_box(width: int, height: int, corner: Corner, fraction: float) -> tuple[int, int, int, int]:
    """Pillow crop box for cutting ``fraction`` of each side that ``corner`` names.

    The benchmark's crop transforms cut the same boxes, so a crop of the same share lands on
    a variant exactly (up to re-encoding).
    """
    dx, dy = round(width * fraction), round(height * fraction)
    left = dx if corner in (Corner.CENTRE, Corner.TOP_LEFT, Corner.BOTTOM_LEFT) else 0
    top = dy if corner in (Corner.CENTRE, Corner.TOP_LEFT, Corner.TOP_RIGHT) else 0
    right = width - (dx if corner in (Corner.CENTRE, Corner.TOP_RIGHT, Corner.BOTTOM_RIGHT) else 0)
    bottom = height - (dy if corner in (Corner.CENTRE, Corner.BOTTOM_LEFT, Corner.BOTTOM_RIGHT) else 0)
    return left, top, right, bottom


def crop_family(image: Image.Image, fractions: Sequence[float] = FRACTIONS) -> list[ListVariant]:
    """The crops of a known picture whose hashes a list stores besides the picture's own.

    Args:
        image: The known picture: grayscale (L) stays so, any other mode is made RGB.
        fractions: Shares of a side to cut; default :data:`FRACTIONS`.

    Returns:
        Per fraction the centre crop, then the four corner crops; none for a picture under
        :data:`MIN_SIDE` pixels on a side.
    """
    working = image if image.mode == "L" else to_rgb(image)
    if min(working.size) < MIN_SIDE:
        return []
    return [
        ListVariant(variant_name(corner, fraction),
                    working.crop(crop_box(working.width, working.height, corner, fraction)))
        for fraction in fractions
        for corner in Corner
    ]


def list_variant_hashes(image: Image.Image, algorithms: Sequence[str] = ALGORITHMS) -> list[HashValue]:
    """Hashes of every :func:`crop_family` member, ``variant`` set to its name.

    Args:
        image: The known picture.
        algorithms: Registered perceptual algorithms to hash each crop with.

    Returns:
        For each crop, one hash per algorithm, in family order.
    """
    chosen = [algorithm for algorithm in (registry.get(name) for name in algorithms)
              if isinstance(algorithm, PerceptualHash)]
    out = []
    for variant in crop_family(image):
        raster = Raster.plain(variant.image)
        for algorithm in chosen:
            out.append(algorithm.hash_raster(raster).model_copy(update={"variant": variant.name}))
    return out


def list_variant_hashes_of(data: bytes, algorithms: Sequence[str] = ALGORITHMS) -> list[HashValue]:
    """:func:`list_variant_hashes` of an encoded picture, cropped from the hasher's working image.

    The working image (decoded, EXIF-turned, grayscale, reduced) is what the query side hashes
    too, and cropping it costs far less than cropping the full-size picture.

    Raises:
        MediaDecodeError: If ``data`` is not a decodable image.
    """
    return list_variant_hashes(MediaInput(data).image, algorithms)

"""Hashing, list side: the edits global hashes cannot undo, hashed ahead on the known picture itself.

Where orbweaver holds the image behind a known entry (a list built with ``orbweaver hashset
add-images``, or media an analyst confirmed), it stores besides the picture's own hashes the
hashes of a family of crops of it, each an entry tagged as a *list-side variant* of its parent.
A re-upload cropped by about as much then lands near one of them although it is far from the
parent: PDQ and pHash are global, so a crop of 10% moves them out of reach, and the query side
(``hashing/variants.py``) cannot know what was cut away.

The family (:func:`crop_family`, 42 members), chosen by the robustness benchmark
(``benchmarks/README.md``, image-backed lists):

- ``crop-c10``: a centre crop cutting :data:`FRACTIONS` (here 10%) off every side;
- ``crop-tl10`` (``tr``, ``bl``, ``br``): a corner crop cutting the share off the two sides
  that meet at that corner (the copy keeps the opposite corner); 12.5% and 17.5% are named
  ``12`` and ``18``;
- ``turn+4``: the picture turned by :data:`TURNS` degrees inside its own frame, black corners
  (global hashes move a lot with a small turn; the query side's ``unrotated`` only finds turns
  whose bare corners it can see);
- ``caption-top20`` / ``caption-bottom20``: a flat white caption bar added; ``overlay-top16`` /
  ``overlay-bottom16``: a flat black bar laid over the picture (:data:`BARS`).

The names are storage keys (``hash_entries.variant``, hits, the review page): never rename one.
They differ from the query-side names (``trimmed``...), which say what was done to the *media*,
while these say what was done to the *known picture*.
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

FRACTIONS = (0.05, 0.10, 0.125, 0.15, 0.175, 0.20)
"""Shares of a side the family cuts (the issue's 5-20%)."""
TURNS = (-8, -6, -4, -2, 2, 4, 6, 8)
"""Degrees (counter-clockwise) of the turned variants: the picture turned inside its own frame."""
BARS = (("caption", 0.2), ("overlay", 0.16))
"""Flat bars at the top and the bottom: a white caption bar of this share of the height added, a
black bar of this share laid over the picture (text on them is a small part of a flat area)."""
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
    """One edit of a known picture.

    Attributes:
        name: Storage key, e.g. ``crop-c10`` (10% off every side), ``crop-tl05`` (5% off the
            top and the left), ``turn-2``, ``caption-top20``.
        image: The edited picture.
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
    """The edits of a known picture whose hashes a list stores besides the picture's own.

    Args:
        image: The known picture: grayscale (L) stays so, any other mode is made RGB.
        fractions: Shares of a side to cut; default :data:`FRACTIONS`.

    Returns:
        Per fraction the centre crop, then the four corner crops; then the turns and the bars;
        none for a picture under :data:`MIN_SIDE` pixels on a side.
    """
    working = image if image.mode == "L" else to_rgb(image)
    if min(working.size) < MIN_SIDE:
        return []
    crops = [
        ListVariant(variant_name(corner, fraction),
                    working.crop(crop_box(working.width, working.height, corner, fraction)))
        for fraction in fractions
        for corner in Corner
    ]
    black = 0 if working.mode == "L" else (0, 0, 0)
    turns = [ListVariant(f"turn{degrees:+d}", working.rotate(degrees, resample=Image.Resampling.BILINEAR,
                                                             fillcolor=black))
             for degrees in TURNS]
    bars = [ListVariant(f"{kind}-{'top' if top else 'bottom'}{round(share * 100):02d}",
                        _barred(working, top=top, share=share, over=kind == "overlay"))
            for kind, share in BARS for top in (True, False)]
    return crops + turns + bars


def _barred(image: Image.Image, *, top: bool, share: float, over: bool) -> Image.Image:
    """The picture with a flat bar: white and added above or below (a caption), or black and laid over it."""
    bar = round(image.height * share)
    if over:
        out = image.copy()
        out.paste(0 if image.mode == "L" else (0, 0, 0), (0, 0 if top else image.height - bar, image.width,
                                                        bar if top else image.height))
        return out
    white = 255 if image.mode == "L" else (255, 255, 255)
    out = Image.new(image.mode, (image.width, image.height + bar), white)
    out.paste(image, (0, bar if top else 0))
    return out


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

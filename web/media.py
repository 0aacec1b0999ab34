"""Server-side reduction of evidence images for analysts (top of the stack): the browser gets only what was revealed.

Level 0 is small, greyscale and blurred; each reveal step lifts one reduction: 1 unblurs,
2 restores colour, 3 shows full size. Every level is re-encoded by Pillow, so even the full-size
view never passes the stored bytes (or their metadata) through unchanged.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from enum import IntEnum

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError


class RevealLevel(IntEnum):
    """How much of an image an analyst has revealed."""

    BLURRED = 0
    UNBLURRED = 1
    COLOUR = 2
    FULL = 3


REVEAL_STEPS: dict[str, RevealLevel] = {
    "unblur": RevealLevel.UNBLURRED,
    "colour": RevealLevel.COLOUR,
    "full": RevealLevel.FULL,
}
"""Form value of each reveal step -> the level it reveals. Values are audit-log keys."""


class MediaUnavailableError(Exception):
    """The evidence bytes are not an image we will decode (corrupt, unknown format, too large)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """An image as it may be sent to the browser."""

    data: bytes
    content_type: str
    width: int
    height: int


def describe_level(level: RevealLevel, *, blur: bool = True, greyscale: bool = True) -> str:
    """How :func:`render_level` shows the image at ``level`` under these preferences, in words for the page."""
    parts = ["small" if level < RevealLevel.FULL else "full size",
             "greyscale" if level < RevealLevel.COLOUR and greyscale else "colour"]
    if level < RevealLevel.UNBLURRED and blur:
        parts.append("blurred")
    return ", ".join(parts)


def render_level(data: bytes, level: RevealLevel, *, preview_px: int, blur_radius: float, max_pixels: int,
                 blur: bool = True, greyscale: bool = True) -> Rendered:
    """Reduce an evidence image to what ``level`` allows.

    ``blur`` and ``greyscale`` are the analyst's own preferences (web/wellbeing.py): whether the reduced
    image starts blurred and in greyscale. Size is always reduced until the full-size step.

    Raises:
        MediaUnavailableError: If the bytes are not a decodable image or exceed ``max_pixels``.

    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise MediaUnavailableError(f"image of {width}x{height} pixels is too large to display")
            image.load()
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise MediaUnavailableError(f"not a displayable image: {type(exc).__name__}") from exc
    image = image.convert("RGB")
    if level < RevealLevel.FULL:
        image.thumbnail((preview_px, preview_px), Image.Resampling.LANCZOS)
    if level < RevealLevel.COLOUR and greyscale:
        image = image.convert("L")
    if level < RevealLevel.UNBLURRED and blur and blur_radius > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur_radius))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return Rendered(data=out.getvalue(), content_type="image/jpeg", width=image.width, height=image.height)

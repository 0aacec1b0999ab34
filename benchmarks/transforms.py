"""Benchmarks, robustness: the edits a known picture goes through before it is re-uploaded.

Perception-style transforms, named as in Thorn's ``perception`` benchmark where it has them
(``crop0.05`` cuts 5% off every side, ``pad0.2`` adds 20% bars above and below, ``rotate4``
rotates by 4 degrees keeping the size with black corners, ``noise0.2`` adds Gaussian noise of
0.2 x 255 standard deviation, ``watermark`` writes "TEST" across a fifth of the width near the
bottom-left corner), plus the ones that re-uploads add: a caption bar, an aspect change, a
screenshot of the picture shown in a made-up interface (browser page, phone app, image viewer)
and chains of them. Every transform is deterministic given its random generator. The result is
encoded the way it would be shared: JPEG quality 90 unless the transform says otherwise
(screenshots are PNG).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

Colour = tuple[int, int, int]
DEFAULT_QUALITY = 90


@dataclass(frozen=True)
class Edited:
    """A transformed picture and how to encode it.

    Attributes:
        image: RGB pixels.
        format: ``"JPEG"`` or ``"PNG"``.
        quality: JPEG quality.
    """

    image: Image.Image
    format: str = "JPEG"
    quality: int = DEFAULT_QUALITY

    def encode(self) -> bytes:
        """The bytes as they would be uploaded."""
        buffer = io.BytesIO()
        if self.format == "PNG":
            self.image.save(buffer, "PNG", compress_level=1)
        else:
            self.image.convert("RGB").save(buffer, "JPEG", quality=self.quality)
        return buffer.getvalue()


Step = Callable[[Edited, np.random.Generator], Edited]


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (no font file is read from the system)."""
    return ImageFont.load_default(size=size)


def _image(step: Callable[[Image.Image, np.random.Generator], Image.Image]) -> Step:
    def run(edited: Edited, rng: np.random.Generator) -> Edited:
        return replace(edited, image=step(edited.image, rng))

    return run


def _quality(quality: int) -> Step:
    def run(edited: Edited, rng: np.random.Generator) -> Edited:
        return replace(edited, format="JPEG", quality=quality)

    return run


def _resize(factor: float) -> Step:
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        size = (max(16, round(image.width * factor)), max(16, round(image.height * factor)))
        return image.resize(size, Image.Resampling.BICUBIC if factor > 1 else Image.Resampling.LANCZOS)

    return _image(run)


def _crop(fraction: float) -> Step:
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        dx, dy = round(image.width * fraction), round(image.height * fraction)
        return image.crop((dx, dy, image.width - dx, image.height - dy))

    return _image(run)


def _corner_crop(fraction: float) -> Step:
    """Cut about ``fraction`` off the two sides meeting at a corner the generator picks.

    Each of the two cuts is jittered by up to a fifth of ``fraction`` (10% is 8-12%), so the
    copy is not exactly one of the list-side crops (``hashing/list_variants.py``) cut.
    """
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        corner = int(rng.integers(0, 4))
        fx, fy = (fraction * float(rng.uniform(0.8, 1.2)) for _ in range(2))
        dx, dy = round(image.width * fx), round(image.height * fy)
        left, top = (dx if corner in (0, 2) else 0), (dy if corner in (0, 1) else 0)
        right = image.width - (dx if corner in (1, 3) else 0)
        bottom = image.height - (dy if corner in (2, 3) else 0)
        return image.crop((left, top, right, bottom))

    return _image(run)


def _random_colour(rng: np.random.Generator) -> Colour:
    r, g, b = (int(v) for v in rng.integers(0, 256, size=3))
    return r, g, b


def _pad_all(fraction: float) -> Step:
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        border = (round(image.width * fraction), round(image.height * fraction))
        return ImageOps.expand(image, border=border, fill=_random_colour(rng))

    return _image(run)


def _letterbox(fraction: float) -> Step:
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        bar = round(image.height * fraction)
        return ImageOps.expand(image, border=(0, bar, 0, bar), fill=(0, 0, 0))

    return _image(run)


def _rotate(degrees: float) -> Step:
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return image.rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))

    return _image(run)


def _transpose(method: Image.Transpose) -> Step:
    return _image(lambda image, rng: image.transpose(method))


def _grey(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return image.convert("L").convert("RGB")


def _gamma(gamma: float) -> Step:
    table = [round(255 * (i / 255) ** gamma) for i in range(256)] * 3
    return _image(lambda image, rng: image.point(table))


def _blur(sigma: float) -> Step:
    return _image(lambda image, rng: image.filter(ImageFilter.GaussianBlur(sigma)))


def _noise(scale: float) -> Step:
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        pixels = np.asarray(image, dtype=np.float32)
        noisy = pixels + rng.normal(0.0, scale * 255, pixels.shape).astype(np.float32)
        return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")

    return _image(run)


def _watermark(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    size = max(8, round(image.width * 0.2 / 2.4))  # "TEST" is about 2.4 em wide
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.text((size, image.height - 2 * size), "TEST", font=font(size), fill=(0, 0, 0, 200))
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


_WORDS = ("when", "you", "see", "it", "monday", "again", "me", "trying", "to", "explain", "the", "plan", "nobody")


def sentence(rng: np.random.Generator, words: int) -> str:
    return " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), size=words)).upper()


def _caption(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    bar = round(image.height * rng.uniform(0.15, 0.25))
    top = bool(rng.integers(0, 2))
    canvas = ImageOps.expand(image, border=(0, bar if top else 0, 0, 0 if top else bar), fill=(255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    size = max(8, bar // 3)
    y = (0 if top else image.height) + (bar - size) // 2
    draw.text((image.width // 2, y + size // 2), sentence(rng, 4), font=font(size), fill=(0, 0, 0), anchor="mm")
    return canvas


def _overlay_bar(opacity: int) -> Step:
    """A bar with text laid over the bottom or top 12-20% of the picture (a meme caption inside it).

    Opaque (255) bars hide what is under them; translucent ones darken it.
    """
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        bar = round(image.height * rng.uniform(0.12, 0.2))
        top = bool(rng.integers(0, 2))
        y0 = 0 if top else image.height - bar
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        shade = (0, 0, 0, opacity) if opacity < 255 else (*_random_colour(rng), 255)
        draw.rectangle((0, y0, image.width, y0 + bar), fill=shade)
        size = max(8, bar // 2)
        ink = (255, 255, 255, 255) if opacity < 255 or sum(shade[:3]) < 384 else (0, 0, 0, 255)
        draw.text((image.width // 2, y0 + bar // 2), sentence(rng, 3), font=font(size), fill=ink, anchor="mm")
        return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")

    return _image(run)


def _frame(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A patterned picture frame of 4-8% per side (stripes and a bevel: not a flat border to trim)."""
    width = max(4, round(min(image.size) * rng.uniform(0.04, 0.08)))
    canvas = Image.new("RGB", (image.width + 2 * width, image.height + 2 * width), _random_colour(rng))
    draw = ImageDraw.Draw(canvas)
    other = _random_colour(rng)
    step = max(2, width // 3)
    for k in range(0, canvas.width + canvas.height, 2 * step):
        draw.line((k, 0, k - canvas.height, canvas.height), fill=other, width=step)
    draw.rectangle((width // 2, width // 2, canvas.width - width // 2, canvas.height - width // 2),
                   outline=(240, 220, 160), width=max(1, width // 4))
    canvas.paste(image, (width, width))
    return canvas


def _aspect(factor: float) -> Step:
    def run(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return image.resize((round(image.width * factor), image.height), Image.Resampling.LANCZOS)

    return _image(run)


# Screenshots -----------------------------------------------------------------------------------


def _text_lines(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[int, int, int, int],
                colour: Colour, size: int) -> None:
    left, top, right, bottom = box
    y = top
    while y + size <= bottom:
        words = int(rng.integers(3, 9))
        draw.text((left, y), sentence(rng, words).lower(), font=font(size), fill=colour)
        y += round(size * 1.6)
        if right - left < size:
            break


def _icons(draw: ImageDraw.ImageDraw, rng: np.random.Generator, y: int, xs: Sequence[int], size: int,
           colour: Colour) -> None:
    for x in xs:
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + size, y + size), outline=colour, width=max(1, size // 8))
        else:
            draw.rounded_rectangle((x, y, x + size, y + size), radius=size // 4, outline=colour,
                                   width=max(1, size // 8))


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    scale = min(width / image.width, height / image.height)
    size = (max(16, round(image.width * scale)), max(16, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _browser(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    dark = rng.random() < 0.3
    page, ink, chrome = ((32, 33, 36), (220, 220, 220), (53, 54, 58)) if dark else (
        (255, 255, 255), (40, 40, 40), (222, 225, 230))
    width = 1280
    shown = _fit(image, round(width * rng.uniform(0.45, 0.7)), 900)
    tabs, address, heading = 40, 44, 70
    text_below = int(rng.integers(2, 6)) * 26 + 30
    height = tabs + address + heading + shown.height + text_below
    canvas = Image.new("RGB", (width, height), page)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, tabs + address), fill=chrome)
    draw.rounded_rectangle((8, 6, 260, tabs), radius=8, fill=page)
    draw.text((24, 14), "Gallery - Example", font=font(15), fill=ink)
    draw.rounded_rectangle((90, tabs + 6, width - 90, tabs + address - 6), radius=14, fill=page)
    draw.text((112, tabs + 13), "https://photos.example.org/album/2024/view", font=font(15), fill=ink)
    _icons(draw, rng, tabs + 10, (14, 48), 22, ink)
    left = int(rng.integers(40, width - shown.width - 260 + 1))
    top = tabs + address + heading
    draw.text((left, tabs + address + 20), sentence(rng, 5).title(), font=font(28), fill=ink)
    canvas.paste(shown, (left, top))
    _text_lines(draw, rng, (left, top + shown.height + 20, left + shown.width, height - 10), ink, 16)
    side = left + shown.width + 40
    _text_lines(draw, rng, (side, top, width - 20, top + shown.height), ink, 14)
    return canvas


def _phone(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    dark = rng.random() < 0.4
    page, ink = ((0, 0, 0), (245, 245, 245)) if dark else ((255, 255, 255), (20, 20, 20))
    width = 720
    shown = _fit(image, width, 900)
    status, header, actions, caption, nav = 48, 96, 80, 110, 100
    height = status + header + shown.height + actions + caption + nav
    canvas = Image.new("RGB", (width, height), page)
    draw = ImageDraw.Draw(canvas)
    draw.text((24, 12), "12:45", font=font(22), fill=ink)
    draw.rectangle((width - 70, 16, width - 30, 34), outline=ink, width=2)
    draw.ellipse((20, status + 20, 76, status + 76), fill=(int(rng.integers(0, 256)), 120, 200))
    draw.text((92, status + 34), "some.account", font=font(24), fill=ink)
    draw.text((width - 60, status + 30), "...", font=font(28), fill=ink)
    top = status + header
    canvas.paste(shown, ((width - shown.width) // 2, top))
    y = top + shown.height
    _icons(draw, rng, y + 24, (24, 88, 152, width - 64), 36, ink)
    _text_lines(draw, rng, (24, y + actions, width - 24, y + actions + caption - 10), ink, 20)
    draw.line((0, height - nav, width, height - nav), fill=(128, 128, 128), width=1)
    _icons(draw, rng, height - nav + 30, (60, 200, 340, 480, 620), 40, ink)
    return canvas


def _viewer(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    grey = int(rng.integers(20, 60))
    page, ink = (grey, grey, grey), (200, 200, 200)
    width, height = 1280, int(rng.integers(760, 900))
    title, toolbar = 40, 56
    shown = _fit(image, width - 2 * int(rng.integers(40, 200)), height - title - toolbar - 40)
    canvas = Image.new("RGB", (width, height), page)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, title), fill=(grey + 20, grey + 20, grey + 20))
    draw.text((16, 10), "IMG_2024_0815.jpg - Viewer", font=font(16), fill=ink)
    canvas.paste(shown, ((width - shown.width) // 2, title + (height - title - toolbar - shown.height) // 2))
    draw.rectangle((0, height - toolbar, width, height), fill=(grey + 15, grey + 15, grey + 15))
    _icons(draw, rng, height - toolbar + 14, range(width // 2 - 150, width // 2 + 150, 60), 28, ink)
    draw.text((width - 120, height - toolbar + 18), "3 / 24", font=font(16), fill=ink)
    return canvas


SCREENS: tuple[Callable[[Image.Image, np.random.Generator], Image.Image], ...] = (_browser, _phone, _viewer)
"""The made-up interfaces a screenshot shows the picture in."""


def screenshot(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The picture shown in one of :data:`SCREENS`, picked by ``rng``."""
    return SCREENS[int(rng.integers(0, len(SCREENS)))](image.convert("RGB"), rng)


def _screenshot(edited: Edited, rng: np.random.Generator) -> Edited:
    return Edited(screenshot(edited.image, rng), format="PNG")


SINGLE: dict[str, Step] = {
    "resize0.5": _resize(0.5),
    "resize2": _resize(2.0),
    "jpeg40": _quality(40),
    "jpeg70": _quality(70),
    "jpeg95": _quality(95),
    "crop0.05": _crop(0.05),
    "crop0.10": _crop(0.10),
    "crop0.15": _crop(0.15),
    "corner0.05": _corner_crop(0.05),
    "corner0.10": _corner_crop(0.10),
    "corner0.15": _corner_crop(0.15),
    "pad0.1": _pad_all(0.10),
    "pad0.2": _letterbox(0.20),
    "rotate2": _rotate(2.0),
    "rotate4": _rotate(4.0),
    "rotate6": _rotate(6.0),
    "rotate8": _rotate(8.0),
    "rotate90": _transpose(Image.Transpose.ROTATE_90),
    "flip": _transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "grey": _image(_grey),
    "gamma2": _gamma(2.0),
    "gamma0.5": _gamma(0.5),
    "blur2": _blur(2.0),
    "noise0.2": _noise(0.2),
    "watermark": _image(_watermark),
    "caption": _image(_caption),
    "overlaybar": _overlay_bar(255),
    "overlaybar-translucent": _overlay_bar(150),
    "frame": _image(_frame),
    "aspect1.33": _aspect(4 / 3),
    "screenshot": _screenshot,
}
"""One edit each; the name says the edit and its strength."""

COMBINED: tuple[str, ...] = (
    "resize0.5+jpeg40",
    "crop0.05+jpeg70",
    "pad0.1+resize0.5+jpeg70",
    "flip+resize0.5+jpeg70",
    "rotate90+grey+jpeg70",
    "caption+resize0.5",
    "screenshot+jpeg70",
    "crop0.10+jpeg70",
    "corner0.10+caption",
    "corner0.05+screenshot",
    "crop0.05+rotate2",
    "rotate4+caption",
    "overlaybar+resize0.5",
    "frame+screenshot",
)
"""Chains of :data:`SINGLE` edits, applied left to right."""

TRANSFORMS: tuple[str, ...] = (*SINGLE, *COMBINED)
"""Every transform the robustness benchmark applies, in report order."""


def apply(name: str, image: Image.Image, rng: np.random.Generator) -> Edited:
    """Apply transform ``name`` (one of :data:`TRANSFORMS`, or any ``+`` chain of :data:`SINGLE`).

    Raises:
        KeyError: If a step is not in :data:`SINGLE`.
    """
    edited = Edited(image.convert("RGB"))
    for step in name.split("+"):
        edited = SINGLE[step](edited, rng)
    return edited

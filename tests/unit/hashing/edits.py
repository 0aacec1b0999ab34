"""Edits that re-uploads make to a picture, for the query-side variant tests (benign generated images only).

Each returns the edited RGB image and, where the picture survives as a rectangle inside it, that
rectangle's ``(left, top, right, bottom)`` box, so tests can check what the variants recover.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont, ImageOps

Box = tuple[int, int, int, int]


def pad(image: Image.Image, share: float, fill: tuple[int, int, int] = (0, 0, 0)) -> tuple[Image.Image, Box]:
    """A uniform border of ``share`` of the size on every side."""
    dx, dy = round(image.width * share), round(image.height * share)
    return ImageOps.expand(image, border=(dx, dy), fill=fill), (dx, dy, dx + image.width, dy + image.height)


def crop(image: Image.Image, share: float) -> Image.Image:
    """The picture without ``share`` of its width (height) on the left and right (top and bottom)."""
    dx, dy = round(image.width * share), round(image.height * share)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def screenshot(image: Image.Image, *, dark: bool = False) -> tuple[Image.Image, Box]:
    """The picture on a made-up browser page: tab and address bars, a heading, text beside and below."""
    page, ink, chrome = ((30, 30, 34), (225, 225, 225), (55, 55, 60)) if dark else (
        (255, 255, 255), (30, 30, 30), (220, 223, 228))
    font = ImageFont.load_default(size=16)
    width, height = image.width + 420, image.height + 260
    canvas = Image.new("RGB", (width, height), page)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, 80), fill=chrome)
    draw.rounded_rectangle((10, 8, 240, 38), radius=8, fill=page)
    draw.text((24, 14), "Photos - Example", font=font, fill=ink)
    draw.rounded_rectangle((80, 46, width - 80, 74), radius=12, fill=page)
    draw.text((100, 50), "https://example.org/gallery/view?id=42", font=font, fill=ink)
    draw.text((40, 100), "An Album Of Holiday Pictures", font=ImageFont.load_default(size=26), fill=ink)
    box = (40, 150, 40 + image.width, 150 + image.height)
    canvas.paste(image, box[:2])
    for line in range(4):
        draw.text((40, box[3] + 16 + 22 * line), "some words about the picture " * (1 + line % 2), font=font, fill=ink)
    for line in range(image.height // 24):
        draw.text((box[2] + 30, box[1] + 24 * line), "a link to another page", font=font, fill=ink)
    return canvas, box


def caption(image: Image.Image, share: float = 0.2, *, top: bool = True) -> tuple[Image.Image, Box]:
    """A white bar of ``share`` of the height with black capitals, above or below the picture."""
    bar = round(image.height * share)
    canvas = ImageOps.expand(image, border=(0, bar if top else 0, 0, 0 if top else bar), fill=(255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = bar // 2 if top else image.height + bar // 2
    draw.text((image.width // 2, y), "WHEN THE PLAN WORKS", font=ImageFont.load_default(size=bar // 3),
              fill=(0, 0, 0), anchor="mm")
    offset = bar if top else 0
    return canvas, (0, offset, image.width, offset + image.height)

"""Benign, photo-like test images generated from a seed with numpy and Pillow (no files, no downloads).

Each image is a smooth colour field (a random linear gradient per channel plus a few
low-frequency waves), a handful of random filled shapes (ellipses, rectangles, polygons) in
random colours, a slight blur so edges look photographic, and a little Gaussian noise. That
gives PDQ quality near 100 and images that are unrelated to one another across seeds.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def photo(seed: int, size: tuple[int, int] = (320, 240), *, noise: float = 4.0) -> Image.Image:
    """A deterministic photo-like RGB image of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    field = np.empty((height, width, 3))
    for channel in range(3):
        a, b, c = rng.uniform(-120, 120, 3)
        base = 128 + a * (u - 0.5) + b * (v - 0.5)
        for _ in range(2):
            fx, fy = rng.uniform(0.5, 3.0, 2)
            phase = rng.uniform(0, 2 * np.pi)
            base += c / 3 * np.sin(2 * np.pi * (fx * u + fy * v) + phase)
        field[..., channel] = base
    image = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 9))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, x1 = sorted(rng.uniform(-0.1, 1.1, 2) * width)
        y0, y1 = sorted(rng.uniform(-0.1, 1.1, 2) * height)
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x1 + 4, y1 + 4), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1 + 4, y1 + 4), fill=colour)
        else:
            points = [
                (float(px), float(py))
                for px, py in zip(rng.uniform(0, width, 5), rng.uniform(0, height, 5), strict=True)
            ]
            draw.polygon(points, fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    pixels = np.asarray(image, dtype=np.float64) + rng.normal(0, noise, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    """The bytes of ``image`` saved in Pillow format ``fmt`` (PNG at fast compression)."""
    if fmt == "PNG":
        params.setdefault("compress_level", 1)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()

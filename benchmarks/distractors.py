"""Benchmarks, robustness: benign images that are NOT on the known list, to count false matches.

Families, all drawn from a seed except the last, and all encoded as they would be served:

- ``imagegen``: photo-like images of :func:`orbweaver.demo.imagegen.generate` (the generator
  that also made a good part of the known list: the hardest generated family, since its
  images share a style);
- ``graphics``: documents, charts and banners: flat colours, text and lines (the kind of image
  whose pHash is least spread out);
- ``screens``: ``imagegen`` pictures inside the made-up interfaces of
  :mod:`benchmarks.transforms` (they exercise the ``deframed`` variant);
- ``padded``: ``imagegen`` pictures with uniform borders (they exercise ``trimmed``);
- ``figures``: the figures of the OpenCV documentation (Debian's ``opencv-doc``, the same
  package the corpus's photos come from, its ``html/`` folder rather than ``examples/``): real
  diagrams, screenshots and processed photos. Some show the corpus's own photos; those are
  not non-matching, and :mod:`benchmarks.robustness` sets aside every figure within
  ``KNOWN_FIGURE_PDQ`` of a known original and lists them in its results.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from benchmarks.transforms import Edited, font, screenshot, sentence

FAMILIES = ("imagegen", "graphics", "screens", "padded", "figures")
SEED_BASE = 7_000_000
"""Far from the seeds the corpus and the demo use (900,000 + n), so no distractor is a known image."""


@dataclass(frozen=True)
class Distractor:
    """One non-matching image.

    Attributes:
        family: One of :data:`FAMILIES`.
        origin: Where it came from (a seed or a file inside the package), for the JSON results.
        data: The encoded bytes.
    """

    family: str
    origin: str
    data: bytes


def _size(rng: np.random.Generator) -> tuple[int, int]:
    width = int(rng.integers(400, 1280))
    return width, max(64, int(width * rng.uniform(0.55, 1.6)))


def _photo(seed: int, rng: np.random.Generator) -> Image.Image:
    from orbweaver.demo.imagegen import generate

    return generate(seed, _size(rng))


def _jpeg(image: Image.Image, rng: np.random.Generator) -> bytes:
    return Edited(image, quality=int(rng.integers(70, 93))).encode()


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(low, high, size=3))
    return r, g, b


def _document(rng: np.random.Generator) -> Image.Image:
    width, height = int(rng.integers(500, 1000)), int(rng.integers(600, 1300))
    page = Image.new("RGB", (width, height), _colour(rng, 225, 256))
    draw = ImageDraw.Draw(page)
    y = 20
    if rng.random() < 0.5:
        bar = int(rng.integers(40, 90))
        draw.rectangle((0, 0, width, bar), fill=_colour(rng, 0, 200))
        draw.text((20, bar // 3), sentence(rng, 3).title(), font=font(bar // 3), fill=(255, 255, 255))
        y = bar + 20
    draw.text((30, y), sentence(rng, 4).title(), font=font(int(rng.integers(22, 36))), fill=(20, 20, 20))
    y += 60
    size = int(rng.integers(12, 20))
    ink = _colour(rng, 0, 90)
    while y < height - 40:
        if rng.random() < 0.12:
            box = (30, y, int(30 + rng.uniform(0.3, 0.9) * (width - 60)), y + int(rng.integers(60, 200)))
            draw.rectangle(box, fill=_colour(rng), outline=ink)
            y = box[3] + 16
            continue
        for _ in range(int(rng.integers(2, 8))):
            draw.text((30, y), sentence(rng, int(rng.integers(4, 12))).lower(), font=font(size), fill=ink)
            y += round(size * 1.5)
        y += size
    return page


def _chart(rng: np.random.Generator) -> Image.Image:
    width, height = int(rng.integers(480, 1100)), int(rng.integers(320, 800))
    image = Image.new("RGB", (width, height), _colour(rng, 235, 256))
    draw = ImageDraw.Draw(image)
    left, bottom, top, right = 60, height - 50, 40, width - 30
    draw.line((left, top, left, bottom, right, bottom), fill=(0, 0, 0), width=2)
    values = rng.uniform(0.1, 1.0, size=int(rng.integers(3, 14)))
    step = (right - left) / len(values)
    if rng.random() < 0.5:
        colour = _colour(rng, 0, 220)
        for k, value in enumerate(values):
            x = left + k * step
            draw.rectangle((x + step * 0.15, bottom - value * (bottom - top), x + step * 0.85, bottom), fill=colour)
    else:
        for _ in range(int(rng.integers(1, 4))):
            points = [(left + k * step, bottom - v * (bottom - top)) for k, v in enumerate(rng.permutation(values))]
            draw.line(points, fill=_colour(rng, 0, 200), width=3)
    draw.text((left, 10), sentence(rng, 4).title(), font=font(20), fill=(0, 0, 0))
    for k in range(5):
        y = bottom - k * (bottom - top) / 4
        draw.text((10, y - 8), f"{k * 25}", font=font(14), fill=(60, 60, 60))
    return image


def _banner(rng: np.random.Generator) -> Image.Image:
    width, height = int(rng.integers(400, 1200)), int(rng.integers(150, 600))
    image = Image.new("RGB", (width, height), _colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 5))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.4) * height
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng))
    size = max(12, int(height * rng.uniform(0.12, 0.3)))
    text = sentence(rng, int(rng.integers(1, 4)))
    draw.text((width // 2, height // 2), text, font=font(size), fill=_colour(rng), anchor="mm")
    return image


def _graphic(rng: np.random.Generator) -> Image.Image:
    kind = int(rng.integers(0, 3))
    return (_document, _chart, _banner)[kind](rng)


def _padded(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    share = rng.uniform(0.05, 0.25)
    if rng.random() < 0.5:
        bar = round(image.height * share)
        return ImageOps.expand(image, border=(0, bar, 0, bar), fill=(0, 0, 0))
    border = (round(image.width * share), round(image.height * share))
    return ImageOps.expand(image, border=border, fill=_colour(rng))


def generated(family: str, index: int) -> Distractor:
    """Distractor ``index`` of a generated family (everything but ``figures``)."""
    seed = SEED_BASE + index
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    if family == "imagegen":
        return Distractor(family, f"imagegen.generate({seed})", _jpeg(_photo(seed, rng), rng))
    if family == "graphics":
        image = _graphic(rng)
        data = Edited(image, format="PNG").encode() if rng.random() < 0.5 else _jpeg(image, rng)
        return Distractor(family, f"graphic({seed})", data)
    if family == "screens":
        return Distractor(family, f"screenshot(imagegen.generate({seed}))",
                          Edited(screenshot(_photo(seed, rng), rng), format="PNG").encode())
    if family == "padded":
        return Distractor(family, f"padded(imagegen.generate({seed}))", _jpeg(_padded(_photo(seed, rng), rng), rng))
    raise ValueError(f"not a generated family: {family!r}")


def _figure_dir(cache: Path) -> Path:
    """Unpack the OpenCV documentation's figures once from the .deb the corpus keeps."""
    unpacked = cache / "opencv-doc-figures"
    if unpacked.is_dir():
        return unpacked
    debs = sorted(cache.glob("opencv-doc_*.deb"))
    if not debs:
        raise SystemExit(f"no opencv-doc .deb in {cache}: run `python -m benchmarks.corpus` first")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), tmp], check=True)
        docs = Path(tmp, "usr/share/doc/opencv-doc")
        html = next(docs.glob("*/html"), None) or docs / "html"
        shutil.move(str(html), unpacked)
    return unpacked


def figures(cache: Path, limit: int, min_side: int = 128) -> Iterator[Distractor]:
    """Up to ``limit`` figures of the OpenCV documentation, re-encoded as JPEG (PNG stays PNG)."""
    folder = _figure_dir(cache)
    rng = np.random.default_rng(SEED_BASE)
    count = 0
    for path in sorted(folder.rglob("*")):
        if count >= limit:
            return
        if path.suffix.lower() not in {".png", ".jpg", ".jpeg"}:
            continue
        try:
            with Image.open(path) as opened:
                if min(opened.size) < min_side:
                    continue
                image = opened.convert("RGB")
        except OSError:
            continue
        data = Edited(image, format="PNG").encode() if path.suffix.lower() == ".png" else _jpeg(image, rng)
        count += 1
        yield Distractor("figures", f"opencv-doc/html/{path.relative_to(folder)}", data)

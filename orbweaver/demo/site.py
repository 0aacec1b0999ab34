"""Demo support, in front of the crawler: a generated static website with planted known images.

:func:`generate_site` writes, under one root folder:

* ``known/``: the "known" image set (benign generated originals); never served. The demo hashes
  these into its hash list.
* ``www/``: a static website. ``index.html`` links to section pages, which link to article pages
  (every page is at most two hops from the index). Articles show background images and link to
  each other; a few of them are deliberately malformed HTML. Altered copies of distinct known
  images are planted on articles under ordinary-looking names, and one page carries bad media
  (a truncated JPEG, an empty ``.jpg`` and an HTML page saved as ``.jpg``).
* ``manifest.json``: a :class:`SiteManifest` recording what is where, so tests and the demo can
  check that the pipeline found every planted copy and nothing else.

Every planted copy is checked with the plain ``pdqhash`` package to lie within 31 bits of its
original (after trimming an added border, as the hashing stage does), and every background image
is checked to lie at least 45 bits from every known image, so a demo match is never an accident.
The output is byte-for-byte the same for the same arguments. :func:`serve_site` serves ``www/``.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO, Self
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import ConfigError, PermanentError
from orbweaver.demo.imagegen import (
    COMBINATIONS,
    DEFAULT_QUALITY,
    EXTENSIONS,
    AlterationKind,
    ImageFormat,
    alter,
    decode,
    encode,
    generate,
    hamming,
    pdq,
    to_hex,
    trim_uniform_border,
)

MATCH_DISTANCE = 31
"""Largest PDQ distance at which a planted copy must still match its original."""

SAFETY_DISTANCE = 45
"""Smallest PDQ distance allowed between a background image and any known image."""

MIN_KNOWN_QUALITY = 80
"""Known originals below this PDQ quality are redrawn: a hash list would reject them."""

MAX_ATTEMPTS = 40
"""Redraws allowed per image before generation gives up."""

PLANT_ATTEMPTS = 24
"""Draws of an alteration tried on one original before it is tried on another one instead.

PDQ is fragile under crops: on these images about one 2-5% crop in four stays within
:data:`MATCH_DISTANCE`, and on some originals practically none does."""

# The background check hashes a half-size copy (4x faster); that estimate is off by at most a
# dozen bits in practice, so anything nearer than this gets an exact full-size hash.
_APPROX_RECHECK = SAFETY_DISTANCE + 24

_TEXT = (
    "The light changed quickly over the water and everyone stopped to watch",
    "We packed a small lunch and followed the old path along the river",
    "Neighbours brought tables, chairs and far too many cakes",
    "The workshop ran all afternoon and nobody wanted to leave",
    "Notes from a slow weekend, with a few pictures from the road",
    "The market opens early, so arrive before the crowds",
    "Here is how the garden looked after the first warm week of spring",
)
_ADJECTIVES = ("sunny", "quiet", "old", "little", "autumn", "winter", "green", "hidden", "early", "long")
_NOUNS = ("walk", "harbour", "market", "recipe", "meadow", "bridge", "festival", "workshop", "trail", "river")
_SECTIONS = (
    "travel", "garden", "kitchen", "events", "community", "photography",
    "diy", "outdoors", "family", "news", "pets", "crafts",
)  # fmt: skip
_PAGES_PER_SECTION = 20

_SOFT_404 = (
    b"<!DOCTYPE html>\n<html><head><title>Page not found</title></head>\n"
    b'<body><h1>Sorry, that picture has moved.</h1><p><a href="/">Home</a></p></body></html>\n'
)

_CSS = b"body{font-family:sans-serif;max-width:60em;margin:auto}img{max-width:100%;height:auto}\n"


class _Role(IntEnum):
    """Separate random streams, so changing one count leaves the other images unchanged."""

    KNOWN = 1
    BACKGROUND = 2
    PLANTED = 3
    LAYOUT = 4
    BAD = 5


class BadMediaKind(StrEnum):
    """Media URLs that are served but cannot be decoded; values are manifest keys."""

    TRUNCATED_JPEG = "truncated_jpeg"
    EMPTY = "empty"
    HTML_AS_JPEG = "html_as_jpeg"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KnownImage(_Record):
    """One original in the known set."""

    file: str = Field(description="Path relative to the site root, e.g. 'known/known-0001.jpg'.")
    pdq: str = Field(description="PDQ hash of the decoded file, 64 hex characters.")
    quality: int = Field(description="PDQ quality score, 0-100.")
    width: int = Field(description="Width in pixels.")
    height: int = Field(description="Height in pixels.")


class PlantedCopy(_Record):
    """An altered copy of a known image, served on the site."""

    url_path: str = Field(description="URL path of the copy, e.g. '/media/2021/04/IMG_1234.jpg'.")
    page: str = Field(description="URL path of the page that shows it.")
    known_file: str = Field(description="The original it derives from (KnownImage.file).")
    alteration: str = Field(description="What was done, e.g. 'resize(0.73)+recompress(q=55)'.")
    kinds: list[AlterationKind] = Field(description="The alteration kinds, in the order applied.")
    pdq_distance: int = Field(description="PDQ distance to the original, after border trimming.")
    attempts: int = Field(description="Draws needed to land within the match distance.")


class BadMedia(_Record):
    """A served media URL whose body is not a decodable image."""

    url_path: str = Field(description="URL path of the file.")
    page: str = Field(description="URL path of the page that shows it.")
    kind: BadMediaKind = Field(description="What is wrong with it.")


class SiteManifest(_Record):
    """What :func:`generate_site` wrote: pages, media, planted copies, bad media, known set."""

    seed: int = Field(description="Seed the site was generated from.")
    index: str = Field(default="/", description="URL path of the start page.")
    pages: list[str] = Field(description="URL paths of every HTML page, index first.")
    malformed_pages: list[str] = Field(description="Pages whose HTML is deliberately broken.")
    media: list[str] = Field(description="URL paths of every decodable image, planted included.")
    media_count: int = Field(description="len(media).")
    planted: list[PlantedCopy] = Field(description="Altered copies of known images on the site.")
    bad_media: list[BadMedia] = Field(description="Served media that cannot be decoded.")
    known: list[KnownImage] = Field(description="The known set, under root/known/ (not served).")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.media_count != len(self.media):
            raise ValueError(f"media_count {self.media_count} != {len(self.media)} media")
        return self

    def save(self, path: Path) -> None:
        """Write the manifest as indented JSON (stable bytes for the same site).

        Args:
            path: File to write.
        """
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> SiteManifest:
        """Read a manifest written by :meth:`save`.

        Args:
            path: The ``manifest.json`` file.

        Returns:
            The manifest.
        """
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Image jobs. Module-level functions of plain arguments so a process pool can run them; each
# draws its randomness from (seed, role, index, attempt) alone, which keeps the output the same
# whatever the number of workers or the order they finish in.


def _rng(seed: int, role: _Role, index: int, attempt: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, int(role), index, attempt]))


def _image_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**62))


def _photo_size(rng: np.random.Generator) -> tuple[int, int]:
    long, short = int(rng.integers(600, 801)), int(rng.integers(480, 601))
    return (long, short) if rng.random() < 0.7 else (short, long)


@dataclass(frozen=True)
class _KnownResult:
    data: bytes
    bits: npt.NDArray[np.bool_]
    quality: int
    size: tuple[int, int]


def _render_known(seed: int, index: int, first_attempt: int) -> _KnownResult:
    for attempt in range(first_attempt, first_attempt + MAX_ATTEMPTS):
        rng = _rng(seed, _Role.KNOWN, index, attempt)
        data = encode(generate(_image_seed(rng), _photo_size(rng)), quality=DEFAULT_QUALITY)
        img = decode(data)
        bits, quality = pdq(img)
        if quality >= MIN_KNOWN_QUALITY:
            return _KnownResult(data, bits, quality, img.size)
    raise PermanentError(f"demo: known image {index} stayed below PDQ quality {MIN_KNOWN_QUALITY}")


@dataclass(frozen=True)
class _BackgroundResult:
    data: bytes
    approx_bits: npt.NDArray[np.bool_]


def _render_background(seed: int, index: int, attempt: int, fmt: ImageFormat, quality: int) -> _BackgroundResult:
    rng = _rng(seed, _Role.BACKGROUND, index, attempt)
    # GIFs on real sites are small (icons, banners), and quantising a full photo is slow.
    size = (int(rng.integers(120, 241)), int(rng.integers(90, 181))) if fmt is ImageFormat.GIF else _photo_size(rng)
    img = generate(_image_seed(rng), size)
    data = encode(img, fmt, quality)
    approx, _ = pdq(img.reduce(2) if min(img.size) >= 64 else img)
    return _BackgroundResult(data, approx)


def _exact_bits(data: bytes) -> npt.NDArray[np.bool_]:
    return pdq(decode(data))[0]


@dataclass(frozen=True)
class _PlantedResult:
    data: bytes
    fmt: ImageFormat
    label: str
    distance: int
    attempts: int


def _render_planted(
    seed: int,
    index: int,
    original: bytes,
    kinds: tuple[AlterationKind, ...],
    fmt: ImageFormat,
    others: npt.NDArray[np.bool_],
) -> _PlantedResult | None:
    source = decode(original)
    source_bits, _ = pdq(source)
    for attempt in range(1, PLANT_ATTEMPTS + 1):
        altered = alter(source, kinds, _rng(seed, _Role.PLANTED, index, attempt))
        data = encode(altered.image, fmt, altered.quality)
        bits, _ = pdq(trim_uniform_border(np.asarray(decode(data))))
        distance = hamming(bits, source_bits)
        # Also keep clear of every other known image, so the match names the right original.
        nearest_other = int(np.count_nonzero(others != bits, axis=1).min()) if len(others) else 256
        if distance <= MATCH_DISTANCE and nearest_other >= SAFETY_DISTANCE:
            return _PlantedResult(data, fmt, altered.label, distance, attempt)
    return None


class _Serial(Executor):
    """Runs jobs in the calling thread: for one worker, no pool is worth starting."""

    def map(self, fn: Any, *iterables: Any, timeout: float | None = None, chunksize: int = 1) -> Iterator[Any]:
        return map(fn, *iterables)


def _executor(workers: int) -> Executor:
    if workers <= 1:
        return _Serial()
    # Fork is quick and needs no importable __main__, but forking a process that runs other
    # threads (a test server, a pipeline stage) can deadlock a child on a lock held at the fork;
    # then the workers are spawned fresh instead.
    method = "fork" if os.name == "posix" and threading.active_count() == 1 else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method))


# ---------------------------------------------------------------------------------------------
# Layout.


class _Names:
    """Realistic, unique media paths: camera names, CMS upload folders, slugs and hashes."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def media(self, fmt: ImageFormat) -> str:
        rng = self._rng
        while True:
            ext = EXTENSIONS[fmt]
            if fmt is ImageFormat.JPEG and rng.random() < 0.1:
                ext = ".jpeg"
            year, month, n = int(rng.integers(2016, 2025)), int(rng.integers(1, 13)), int(rng.integers(1, 99999))
            word = f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}"
            pattern = int(rng.integers(0, 5))
            if pattern == 0:
                path = f"/media/{year}/{month:02d}/IMG_{n % 10000:04d}{ext}"
            elif pattern == 1:
                path = f"/uploads/gallery/DSC{n:05d}{ext}"
            elif pattern == 2:
                path = f"/static/img/photos/{word}-{n % 1000}{ext}"
            elif pattern == 3:
                path = f"/assets/images/{int(rng.integers(0, 2**32)):08x}{ext}"
            else:
                path = f"/wp-content/uploads/{year}/{month:02d}/{word.replace('-', '_')}_{n % 100}{ext}"
            if path not in self._used:
                self._used.add(path)
                return path


@dataclass
class _Article:
    path: str
    title: str
    section: str
    images: list[str]
    links: list[str]
    malformed: bool = False


def _background_format(rng: np.random.Generator) -> ImageFormat:
    roll = rng.random()
    if roll < 0.88:
        return ImageFormat.JPEG
    if roll < 0.94:
        return ImageFormat.PNG
    if roll < 0.98:
        return ImageFormat.WEBP
    return ImageFormat.GIF


def _src(page: str, media: str, rng: np.random.Generator) -> str:
    # Articles sit one folder deep, so about a third of the images use "../" relative URLs,
    # as sites that were once static files do.
    return ".." + media if page.count("/") == 2 and rng.random() < 0.35 else media


def _paragraph(rng: np.random.Generator) -> str:
    count = int(rng.integers(2, 5))
    return ". ".join(str(s) for s in rng.choice(_TEXT, size=count, replace=False)) + "."


def _article_html(article: _Article, rng: np.random.Generator, sections: dict[str, str]) -> str:
    section_title = article.section.replace("-", " ").title()
    figures: list[str] = []
    for media in article.images:
        src = _src(article.path, media, rng)
        alt = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        if article.malformed:
            # Unclosed <figure>/<p>, unquoted attributes: parsers must recover the images anyway.
            figures.append(f'<figure><img src={src} alt="{alt}"><p>{_paragraph(rng)}')
        else:
            figures.append(
                f'<figure>\n<img src="{src}" alt="{alt}" loading="lazy">\n'
                f"<figcaption>{alt.capitalize()}</figcaption>\n</figure>\n<p>{_paragraph(rng)}</p>"
            )
    links = "\n".join(
        f'<li><a href="{href}">{href.rsplit("/", 1)[-1].removesuffix(".html").replace("-", " ")}</a></li>'
        for href in article.links
    )
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{article.title} - {section_title}</title>\n"
        '<link rel="stylesheet" href="/static/site.css">\n</head>\n<body>\n'
        f'<header><a href="/">Home</a> | <a href="{sections[article.section]}">{section_title}</a></header>\n'
    )
    if article.malformed:
        # Never closed: <main>, <div>, <ul>, <li>, <body>, <html>.
        body = (
            f"<main><div class=post><h1>{article.title}</h1>\n<p>{_paragraph(rng)}\n"
            + "\n".join(figures)
            + "\n<div class=related><ul>"
            + links.replace("</li>", "")
            + "\n<footer>Posted by the community team"
        )
        return head + body + "\n"
    body = (
        f"<main>\n<h1>{article.title}</h1>\n<p>{_paragraph(rng)}</p>\n"
        + "\n".join(figures)
        + f"\n</main>\n<aside>\n<h2>More stories</h2>\n<ul>\n{links}\n</ul>\n</aside>\n"
        "<footer>Posted by the community team</footer>\n</body>\n</html>\n"
    )
    return head + body


def _hub_html(title: str, links: Sequence[tuple[str, str]]) -> str:
    items = "\n".join(f'<li><a href="{href}">{text}</a></li>' for href, text in links)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<title>{title}</title>\n<link rel="stylesheet" href="/static/site.css">\n</head>\n'
        f'<body>\n<header><a href="/">Home</a></header>\n<main>\n<h1>{title}</h1>\n'
        f"<ul>\n{items}\n</ul>\n</main>\n</body>\n</html>\n"
    )


def _write(www: Path, url_path: str, data: bytes) -> None:
    target = www / url_path.lstrip("/")
    if url_path.endswith("/"):
        target = target / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


# ---------------------------------------------------------------------------------------------
# The generator.


def generate_site(
    root: Path,
    *,
    pages: int = 200,
    background_images: int = 1000,
    known: int = 40,
    planted: int = 40,
    seed: int = 7,
    workers: int | None = None,
    overwrite: bool = False,
) -> SiteManifest:
    """Write the known set, the demo website and its manifest under ``root``.

    Args:
        root: Output folder; ``known/``, ``www/`` and ``manifest.json`` are written in it.
        pages: Number of article pages (section and index pages come on top).
        background_images: Number of distinct unrelated images shown on the articles.
        known: Size of the known set.
        planted: Altered copies to plant, each of a different known image (at most ``known``).
        seed: Everything derives from it; the same arguments give the same bytes.
        workers: Processes for image rendering; default one per CPU, 1 renders in-process.
            The output does not depend on it. When the caller runs other threads the workers
            are spawned, which re-imports the main script: keep its work under
            ``if __name__ == "__main__":`` (console scripts and pytest do).
        overwrite: Delete an existing ``known/``, ``www/`` and ``manifest.json`` first.

    Returns:
        The manifest, also saved as ``root/manifest.json``.

    Raises:
        ConfigError: On impossible counts, or when output exists and ``overwrite`` is off.
        PermanentError: If an image cannot be drawn within the distance limits (not expected).
    """
    if pages < 1 or background_images < 0 or known < 1 or not 0 <= planted <= known:
        raise ConfigError(
            f"demo site needs pages >= 1, known >= 1, 0 <= planted <= known "
            f"(got pages={pages}, background_images={background_images}, known={known}, planted={planted})"
        )
    root = Path(root)
    www, known_dir, manifest_path = root / "www", root / "known", root / "manifest.json"
    existing = [p for p in (www, known_dir, manifest_path) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"demo site output already exists: {', '.join(map(str, existing))}")
    for old in existing:
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    layout = _rng(seed, _Role.LAYOUT, 0)

    with _executor(workers) as pool:
        knowns = _known_set(pool, seed, known)
        known_bits = np.stack([k.bits for k in knowns])
        bg_formats = [_background_format(layout) for _ in range(background_images)]
        backgrounds = _backgrounds(pool, seed, bg_formats, known_bits)
        chosen = [int(i) for i in layout.choice(known, size=planted, replace=False)]
        copies = _plant(pool, seed, chosen, knowns, known_bits)

    known_records: list[KnownImage] = []
    known_dir.mkdir(parents=True)
    for i, k in enumerate(knowns):
        name = f"known/known-{i + 1:04d}.jpg"
        (root / name).write_bytes(k.data)
        known_records.append(
            KnownImage(file=name, pdq=to_hex(k.bits), quality=k.quality, width=k.size[0], height=k.size[1])
        )

    names = _Names(layout)
    bg_paths = [names.media(fmt) for fmt in bg_formats]
    planted_paths = [names.media(c.fmt) for c in copies]
    bad = [
        (BadMediaKind.TRUNCATED_JPEG, _truncated_jpeg(seed)),
        (BadMediaKind.EMPTY, b""),
        (BadMediaKind.HTML_AS_JPEG, _SOFT_404),
    ]
    bad_paths = [names.media(ImageFormat.JPEG) for _ in bad]

    # Sections and articles.
    n_sections = max(1, math.ceil(pages / _PAGES_PER_SECTION))
    section_names = [
        _SECTIONS[s % len(_SECTIONS)] + (f"-{s // len(_SECTIONS) + 1}" if s >= len(_SECTIONS) else "")
        for s in range(n_sections)
    ]
    section_urls = {name: f"/{name}/" for name in section_names}
    articles: list[_Article] = []
    for i in range(pages):
        section = section_names[i % n_sections]
        adjective, noun = layout.choice(_ADJECTIVES), layout.choice(_NOUNS)
        articles.append(
            _Article(
                path=f"/{section}/{adjective}-{noun}-{i + 1}.html",
                title=f"{str(adjective).capitalize()} {noun} {i + 1}",
                section=section,
                images=[],
                links=[],
            )
        )
    n_malformed = min(pages, max(2, pages // 40))
    for i in layout.choice(pages, size=n_malformed, replace=False):
        articles[int(i)].malformed = True

    # Every background image once, shuffled over the articles, then about one in ten again on
    # another page or two, as shared pictures are.
    order = layout.permutation(background_images)
    for slot, b in enumerate(order):
        articles[slot % pages].images.append(bg_paths[int(b)])
    for b in range(background_images):
        if layout.random() < 0.1:
            for page in layout.choice(pages, size=min(pages, int(layout.integers(1, 3))), replace=False):
                if bg_paths[b] not in articles[int(page)].images:
                    articles[int(page)].images.append(bg_paths[b])
    for a in articles:
        layout.shuffle(a.images)

    planted_records: list[PlantedCopy] = []
    malformed_idx = [i for i, a in enumerate(articles) if a.malformed]
    for j, (copy, path) in enumerate(zip(copies, planted_paths, strict=True)):
        # The first copy always goes on a malformed page: the hardest place to find it.
        page = malformed_idx[0] if j == 0 else int(layout.integers(0, pages))
        images = articles[page].images
        images.insert(int(layout.integers(0, len(images) + 1)), path)
        planted_records.append(
            PlantedCopy(
                url_path=path,
                page=articles[page].path,
                known_file=known_records[chosen[j]].file,
                alteration=copy.label,
                kinds=list(COMBINATIONS[j % len(COMBINATIONS)]),
                pdq_distance=copy.distance,
                attempts=copy.attempts,
            )
        )
    bad_page = int(layout.integers(0, pages))
    bad_records = []
    for (kind, _), path in zip(bad, bad_paths, strict=True):
        images = articles[bad_page].images
        images.insert(int(layout.integers(0, len(images) + 1)), path)
        bad_records.append(BadMedia(url_path=path, page=articles[bad_page].path, kind=kind))

    for i, a in enumerate(articles):
        same = [o for o in range(pages) if o != i and articles[o].section == a.section]
        pool_ = same if len(same) >= 3 else [o for o in range(pages) if o != i]
        picks = layout.choice(pool_, size=min(len(pool_), int(layout.integers(3, 6))), replace=False)
        a.links = [articles[int(o)].path for o in picks]

    # Write the site.
    www.mkdir(parents=True)
    _write(www, "/static/site.css", _CSS)
    for b, path in enumerate(bg_paths):
        _write(www, path, backgrounds[b].data)
    for copy, path in zip(copies, planted_paths, strict=True):
        _write(www, path, copy.data)
    for (_, data), path in zip(bad, bad_paths, strict=True):
        _write(www, path, data)
    for a in articles:
        _write(www, a.path, _article_html(a, layout, section_urls).encode())
    for name in section_names:
        members = [(a.path.rsplit("/", 1)[-1], a.title) for a in articles if a.section == name]
        _write(www, section_urls[name], _hub_html(name.replace("-", " ").title(), members).encode())
    _write(
        www,
        "/",
        _hub_html("Riverside community notes", [(url, n.title()) for n, url in section_urls.items()]).encode(),
    )

    manifest = SiteManifest(
        seed=seed,
        pages=["/", *section_urls.values(), *(a.path for a in articles)],
        malformed_pages=[a.path for a in articles if a.malformed],
        media=sorted([*bg_paths, *planted_paths]),
        media_count=len(bg_paths) + len(planted_paths),
        planted=planted_records,
        bad_media=bad_records,
        known=known_records,
    )
    manifest.save(manifest_path)
    return manifest


def _known_set(pool: Executor, seed: int, count: int) -> list[_KnownResult]:
    knowns = list(pool.map(_render_known, [seed] * count, range(count), [0] * count))
    # Known originals must be far apart too, or a copy could match the wrong one. Unrelated
    # images sit near 128 bits, so this loop practically never runs.
    for i in range(count):
        attempt = MAX_ATTEMPTS
        while any(hamming(knowns[i].bits, knowns[o].bits) < SAFETY_DISTANCE for o in range(i)):
            knowns[i] = _render_known(seed, i, attempt)
            attempt += MAX_ATTEMPTS
    return knowns


def _plant_format(index: int) -> ImageFormat:
    chain = COMBINATIONS[index % len(COMBINATIONS)]
    # Some copies are re-saved as PNG, as screenshots are; never after a recompress.
    if index % 7 == 3 and AlterationKind.RECOMPRESS not in chain:
        return ImageFormat.PNG
    return ImageFormat.JPEG


def _plant(
    pool: Executor,
    seed: int,
    chosen: list[int],
    knowns: list[_KnownResult],
    known_bits: npt.NDArray[np.bool_],
) -> list[_PlantedResult]:
    """Render copy ``j`` of original ``chosen[j]`` with chain ``COMBINATIONS[j % ...]``.

    A copy whose chain cannot land within the match distance on its original (a crop on a
    crop-fragile image) trades originals with a later copy that can take either; ``chosen`` is
    updated in place so it names each copy's final original.
    """

    def job(j: int, source: int) -> tuple[Any, ...]:
        others = np.delete(known_bits, source, axis=0)
        chain = COMBINATIONS[j % len(COMBINATIONS)]
        return (seed, j, knowns[source].data, chain, _plant_format(j), others)

    if not chosen:
        return []
    jobs = [job(j, source) for j, source in enumerate(chosen)]
    results = list(pool.map(_render_planted, *zip(*jobs, strict=True)))
    for j in range(len(chosen)):
        if results[j] is not None:
            continue
        for k in range(len(chosen)):
            if k == j or results[k] is None:
                continue
            mine = _render_planted(*job(j, chosen[k]))
            theirs = _render_planted(*job(k, chosen[j])) if mine is not None else None
            if mine is not None and theirs is not None:
                chosen[j], chosen[k] = chosen[k], chosen[j]
                results[j], results[k] = mine, theirs
                break
        else:
            chain = "+".join(COMBINATIONS[j % len(COMBINATIONS)])
            raise PermanentError(f"demo: planted copy {j} ({chain}) never came within PDQ {MATCH_DISTANCE}")
    return [r for r in results if r is not None]


def _backgrounds(
    pool: Executor, seed: int, formats: list[ImageFormat], known_bits: npt.NDArray[np.bool_]
) -> list[_BackgroundResult]:
    n = len(formats)
    qualities = [DEFAULT_QUALITY] * n
    results = list(pool.map(_render_background, [seed] * n, range(n), [0] * n, formats, qualities, chunksize=16))
    for i in range(n):
        attempt = 0
        while not _clear_of(results[i], known_bits):
            attempt += 1
            if attempt >= MAX_ATTEMPTS:
                raise PermanentError(f"demo: background image {i} kept landing near a known image")
            results[i] = _render_background(seed, i, attempt, formats[i], qualities[i])
    return results


def _clear_of(result: _BackgroundResult, known_bits: npt.NDArray[np.bool_]) -> bool:
    nearest = int(np.count_nonzero(known_bits != result.approx_bits, axis=1).min())
    if nearest >= _APPROX_RECHECK:
        return True
    exact = _exact_bits(result.data)
    return int(np.count_nonzero(known_bits != exact, axis=1).min()) >= SAFETY_DISTANCE


def _truncated_jpeg(seed: int) -> bytes:
    rng = _rng(seed, _Role.BAD, 0)
    data = encode(generate(_image_seed(rng), (320, 240)))
    # Cut inside the entropy-coded data: the header parses, the pixels never arrive.
    return data[: len(data) // 3]


# ---------------------------------------------------------------------------------------------
# Serving.

ALLOW_ALL_ROBOTS = "User-agent: *\nAllow: /\n"

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    "": "application/octet-stream",
}


class DemoServer:
    """A running demo web server: where it listens and what it was asked for."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        """``http://host:port`` with no trailing slash."""
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()

    def _record(self, path: str) -> None:
        with self._lock:
            self._hits[path] += 1

    @property
    def requests(self) -> int:
        """GET and HEAD requests answered so far, whatever their status."""
        with self._lock:
            return self._hits.total()

    def hits(self, path: str | None = None) -> int:
        """Requests so far for one URL path, or for all paths when ``path`` is None.

        Args:
            path: A URL path such as ``"/index.html"`` (no query string).

        Returns:
            The count.
        """
        with self._lock:
            return self._hits.total() if path is None else self._hits[path]

    def hit_paths(self) -> Counter[str]:
        """A copy of the per-path request counts."""
        with self._lock:
            return Counter(self._hits)

    def reset(self) -> None:
        """Forget the counts, e.g. between two crawls of the same server."""
        with self._lock:
            self._hits.clear()


class _Handler(SimpleHTTPRequestHandler):
    server_version = "orbweaver-demo/1"
    extensions_map = _CONTENT_TYPES

    def __init__(self, *args: Any, site: DemoServer, robots: bytes, **kwargs: Any) -> None:
        self._site = site
        self._robots = robots
        super().__init__(*args, **kwargs)

    def send_head(self) -> BinaryIO | None:
        path = urlsplit(self.path).path
        self._site._record(path)
        if path == "/robots.txt":
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(self._robots)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(self._robots)
            return None
        return super().send_head()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        # A real site has no directory listings; a crawler must find media through pages.
        self.send_error(HTTPStatus.NOT_FOUND, "No such page")
        return None

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: request lines would drown test output; counts are kept instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response (crawlers do) are normal here, not worth a traceback.
        pass


@contextmanager
def serve_site(
    www: Path, host: str = "127.0.0.1", port: int = 0, *, robots_txt: str | None = None
) -> Iterator[DemoServer]:
    """Serve a generated site's ``www/`` folder over HTTP on a background thread.

    Content types follow the file extension (so an HTML file named ``.jpg`` is served as
    ``image/jpeg``, as a misconfigured site would). Folders serve their ``index.html`` or 404;
    there are no directory listings. ``/robots.txt`` allows everything unless ``robots_txt`` says
    otherwise.

    Args:
        www: The folder to serve.
        host: Interface to listen on.
        port: TCP port; 0 picks a free one.
        robots_txt: Body of ``/robots.txt``; default allows every crawler everywhere.

    Yields:
        The running server; it is shut down and its port released when the block exits.

    Raises:
        ConfigError: If ``www`` is not a folder.
    """
    if not Path(www).is_dir():
        raise ConfigError(f"cannot serve {www}: not a folder")
    robots = (ALLOW_ALL_ROBOTS if robots_txt is None else robots_txt).encode()
    holder: list[DemoServer] = []

    def handler(*args: Any, **kwargs: Any) -> _Handler:
        return _Handler(*args, site=holder[0], robots=robots, directory=str(www), **kwargs)

    httpd = _Server((host, port), handler)
    bound_host, bound_port = httpd.server_address[:2]
    name = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
    url_host = f"[{name}]" if ":" in name else name
    site = DemoServer(f"http://{url_host}:{bound_port}")
    holder.append(site)
    thread = threading.Thread(target=functools.partial(httpd.serve_forever, poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)

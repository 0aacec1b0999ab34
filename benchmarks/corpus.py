"""Benchmarks, outside the pipeline: build the benign web-like image corpus every benchmark reads.

Sources, all benign and none fetched at run time beyond the two packages named here:

- the sample photos of Debian's ``opencv-doc`` package (``apt-get download opencv-doc``, unpacked
  with ``dpkg-deb -x``; the .deb is kept in the corpus folder so a rebuild needs no network);
- the photos scikit-image ships inside its wheel (``skimage.data``; only files already on disk,
  never the ones its fetcher would download);
- photo-like images drawn from a seed by :func:`orbweaver.demo.imagegen.generate`.

Every source image is resized to a random longest side of 480-1600 px (LANCZOS) and re-encoded
as a web-like JPEG (quality 70-92, 4:2:0, a fifth progressive), into ``benchmarks/.corpus/``
(git-ignored) with a ``manifest.json`` that says where each file came from.

    python -m benchmarks.corpus [--count 400] [--out benchmarks/.corpus]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DIR = Path(__file__).resolve().parent / ".corpus"
LONG_SIDE = (480, 1600)
QUALITY = (70, 92)
MIN_SIDE = 128
"""Smaller package images are icons and masks, not photos."""
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "color.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "microaneurysms.png",
    "moon.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)


@dataclass(frozen=True)
class CorpusImage:
    """One corpus file and where it came from."""

    file: str
    source: str
    origin: str
    width: int
    height: int
    quality: int
    progressive: bool
    bytes: int


def _opencv_doc_images(cache: Path) -> Iterator[tuple[str, Path]]:
    """Unpack Debian's opencv-doc once into ``cache`` and yield its photo-sized sample images."""
    unpacked = cache / "opencv-doc"
    if not unpacked.is_dir():
        debs = sorted(cache.glob("opencv-doc_*.deb"))
        if not debs:
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run(["apt-get", "download", "opencv-doc"], cwd=cache, check=True, capture_output=True)
            debs = sorted(cache.glob("opencv-doc_*.deb"))
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            subprocess.run(["dpkg-deb", "-x", str(debs[-1]), tmp], check=True)
            shutil.move(str(Path(tmp) / "usr/share/doc/opencv-doc/examples"), unpacked)
    for path in sorted(unpacked.rglob("*")):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png"} or any(
            word in str(path).lower() for word in ("mask", "trimap", "matte", "shape_sample")
        ):
            continue
        yield f"opencv-doc/{path.relative_to(unpacked)}", path


def _skimage_images() -> Iterator[tuple[str, Path]]:
    try:
        import skimage.data
    except ImportError:
        raise SystemExit("scikit-image is missing: pip install -e '.[bench]'") from None
    folder = Path(skimage.data.__file__).parent
    for name in SKIMAGE_PHOTOS:
        if (folder / name).is_file():
            yield f"skimage/{name}", folder / name


def _photo_like(image: Image.Image) -> Image.Image | None:
    """RGB image if ``image`` is big and varied enough to stand in for a photo, else None."""
    if min(image.size) < MIN_SIDE:
        return None
    rgb = image.convert("RGB")
    if float(np.asarray(rgb.convert("L"), dtype=np.float32).std()) < 20.0:
        return None
    return rgb


def _web_jpeg(image: Image.Image, rng: np.random.Generator) -> tuple[bytes, tuple[int, int], int, bool]:
    long_side = int(rng.integers(LONG_SIDE[0], LONG_SIDE[1] + 1))
    scale = long_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    quality = int(rng.integers(QUALITY[0], QUALITY[1] + 1))
    progressive = bool(rng.random() < 0.2)
    buffer = io.BytesIO()
    resized.save(buffer, "JPEG", quality=quality, progressive=progressive, subsampling="4:2:0")
    return buffer.getvalue(), size, quality, progressive


def build(out: Path = DEFAULT_DIR, count: int = 400, seed: int = 3) -> list[CorpusImage]:
    """Build (or rebuild) the corpus: every package photo once, then generated images up to ``count``.

    Returns:
        The manifest entries, also written to ``out/manifest.json``.
    """
    from orbweaver.demo.imagegen import generate

    images_dir = out / "images"
    if images_dir.exists():
        shutil.rmtree(images_dir)
    images_dir.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    manifest: list[CorpusImage] = []

    def add(source: str, origin: str, image: Image.Image) -> None:
        data, size, quality, progressive = _web_jpeg(image, rng)
        name = f"{len(manifest):05d}.jpg"
        (images_dir / name).write_bytes(data)
        manifest.append(CorpusImage(name, source, origin, size[0], size[1], quality, progressive, len(data)))

    for origin, path in [*_opencv_doc_images(out / "cache"), *_skimage_images()]:
        if len(manifest) >= count:
            break
        with Image.open(path) as opened:
            photo = _photo_like(opened)
        if photo is not None:
            add(origin.split("/")[0], origin, photo)
    seed_offset = 0
    while len(manifest) < count:
        width = int(rng.integers(480, 1601))
        height = int(width * rng.uniform(0.5, 1.5))
        seed_value = 900_000 + seed_offset
        add("generated", f"imagegen.generate({seed_value})", generate(seed_value, (width, height)))
        seed_offset += 1
    (out / "manifest.json").write_text(json.dumps([asdict(m) for m in manifest], indent=1) + "\n")
    return manifest


def load(out: Path = DEFAULT_DIR) -> list[Path]:
    """Paths of the corpus images, building nothing.

    Raises:
        SystemExit: If the corpus has not been built.
    """
    manifest = out / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"no corpus at {out}: run `python -m benchmarks.corpus` first")
    return [out / "images" / entry["file"] for entry in json.loads(manifest.read_text())]


def main(argv: list[str] | None = None) -> None:
    """Command line: build the corpus and print a one-line summary per source."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=400, help="total images (package photos first)")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    manifest = build(args.out, args.count)
    by_source: dict[str, int] = {}
    for entry in manifest:
        by_source[entry.source] = by_source.get(entry.source, 0) + 1
    print(json.dumps({"out": str(args.out), "images": len(manifest), "by_source": by_source}))


if __name__ == "__main__":
    main()

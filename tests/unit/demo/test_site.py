"""Unit tests of the demo website generator, against the session's small site."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ConfigError
from orbweaver.demo.imagegen import decode, hamming, pdq, to_hex, trim_uniform_border
from orbweaver.demo.site import (
    MATCH_DISTANCE,
    SAFETY_DISTANCE,
    BadMediaKind,
    SiteManifest,
    generate_site,
)
from tests.fixtures.images import (
    SMALL_SITE_IMAGES,
    SMALL_SITE_KNOWN,
    SMALL_SITE_PAGES,
    SMALL_SITE_PLANTED,
)
from tests.unit.demo._html import extract


def _file(root: Path, url_path: str) -> Path:
    target = root / "www" / url_path.lstrip("/")
    return target / "index.html" if url_path.endswith("/") else target


def _bits_from_hex(value: str) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(value), dtype=np.uint8)).astype(bool)


@pytest.fixture(scope="module")
def manifest(demo_site_root: Path) -> SiteManifest:
    return SiteManifest.load(demo_site_root / "manifest.json")


@pytest.fixture(scope="module")
def crawl(demo_site_root: Path, manifest: SiteManifest) -> dict[str, tuple[int, list[str], list[str]]]:
    """Breadth-first walk of the files from the index: page -> (depth, links, images)."""
    seen: dict[str, tuple[int, list[str], list[str]]] = {}
    queue = deque([(manifest.index, 0)])
    while queue:
        page, depth = queue.popleft()
        if page in seen:
            continue
        links, images = extract(page, _file(demo_site_root, page).read_text(encoding="utf-8"))
        seen[page] = (depth, links, images)
        queue.extend((link, depth + 1) for link in links if link.endswith((".html", "/")))
    return seen


def test_counts_match_the_request(manifest: SiteManifest) -> None:
    articles = [p for p in manifest.pages if p.endswith(".html")]
    assert len(articles) == SMALL_SITE_PAGES
    assert manifest.pages[0] == "/"
    assert manifest.media_count == len(manifest.media) == SMALL_SITE_IMAGES + SMALL_SITE_PLANTED
    assert len(set(manifest.media)) == len(manifest.media)
    assert len(manifest.known) == SMALL_SITE_KNOWN
    assert len(manifest.planted) == SMALL_SITE_PLANTED
    assert {b.kind for b in manifest.bad_media} == set(BadMediaKind)
    assert manifest.malformed_pages


def test_every_listed_file_exists_and_known_is_not_served(demo_site_root: Path, manifest: SiteManifest) -> None:
    for page in manifest.pages:
        assert _file(demo_site_root, page).is_file(), page
    for media in manifest.media:
        assert _file(demo_site_root, media).is_file(), media
    for known in manifest.known:
        assert (demo_site_root / known.file).is_file()
        assert not known.file.startswith("www/")
    served = {p.relative_to(demo_site_root / "www").as_posix() for p in (demo_site_root / "www").rglob("*")}
    assert not any("known" in Path(p).parts[0] for p in served)


def test_every_page_is_within_three_hops_and_all_media_is_shown(
    manifest: SiteManifest, crawl: dict[str, tuple[int, list[str], list[str]]]
) -> None:
    assert set(crawl) == set(manifest.pages)
    assert max(depth for depth, _, _ in crawl.values()) <= 3
    shown = {src for _, _, images in crawl.values() for src in images}
    bad = {b.url_path for b in manifest.bad_media}
    assert shown == set(manifest.media) | bad
    for copy in manifest.planted:
        assert copy.url_path in crawl[copy.page][2]
    for item in manifest.bad_media:
        assert item.url_path in crawl[item.page][2]


def test_malformed_pages_are_broken_but_still_show_images(
    demo_site_root: Path, manifest: SiteManifest, crawl: dict[str, tuple[int, list[str], list[str]]]
) -> None:
    for page in manifest.malformed_pages:
        html = _file(demo_site_root, page).read_text(encoding="utf-8")
        assert "</html>" not in html
        assert html.count("<figure>") > html.count("</figure>")
        assert crawl[page][2], page
    # The generator puts the first planted copy on a malformed page.
    assert manifest.planted[0].page in manifest.malformed_pages


def test_images_sit_in_subfolders_and_use_relative_and_absolute_urls(demo_site_root: Path) -> None:
    raw_srcs = []
    for page in (demo_site_root / "www").rglob("*.html"):
        raw_srcs += [line for line in page.read_text(encoding="utf-8").split("<img src=")[1:]]
    assert any(s.lstrip('"').startswith("../") for s in raw_srcs)
    assert any(s.lstrip('"').startswith("/") for s in raw_srcs)


def test_planted_copies_are_distinct_files_of_distinct_known_images(
    demo_site_root: Path, manifest: SiteManifest
) -> None:
    digests = {hashlib.sha256(_file(demo_site_root, c.url_path).read_bytes()).hexdigest() for c in manifest.planted}
    assert len(digests) == len(manifest.planted)
    assert len({c.known_file for c in manifest.planted}) == len(manifest.planted)
    assert {c.known_file for c in manifest.planted} <= {k.file for k in manifest.known}


def test_every_planted_copy_is_within_match_distance_of_its_original(
    demo_site_root: Path, manifest: SiteManifest
) -> None:
    known = {k.file: k for k in manifest.known}
    for copy in manifest.planted:
        original_bits, quality = pdq(decode((demo_site_root / copy.known_file).read_bytes()))
        assert to_hex(original_bits) == known[copy.known_file].pdq
        assert quality == known[copy.known_file].quality >= 80
        copy_rgb = np.asarray(decode(_file(demo_site_root, copy.url_path).read_bytes()))
        distance = hamming(original_bits, pdq(trim_uniform_border(copy_rgb))[0])
        assert distance == copy.pdq_distance <= MATCH_DISTANCE, copy.alteration
        # And it names the right original: every other known image is far away.
        for other in manifest.known:
            if other.file != copy.known_file:
                assert hamming(_bits_from_hex(other.pdq), pdq(trim_uniform_border(copy_rgb))[0]) >= SAFETY_DISTANCE


def test_no_background_image_is_near_a_known_image(demo_site_root: Path, manifest: SiteManifest) -> None:
    known_bits = np.stack([_bits_from_hex(k.pdq) for k in manifest.known])
    planted = {c.url_path for c in manifest.planted}
    for media in manifest.media:
        if media in planted:
            continue
        bits, _ = pdq(decode(_file(demo_site_root, media).read_bytes()))
        nearest = int(np.count_nonzero(known_bits != bits, axis=1).min())
        assert nearest >= SAFETY_DISTANCE, media


def test_bad_media_cannot_be_decoded(demo_site_root: Path, manifest: SiteManifest) -> None:
    for item in manifest.bad_media:
        data = _file(demo_site_root, item.url_path).read_bytes()
        assert item.url_path.endswith((".jpg", ".jpeg"))
        if item.kind is BadMediaKind.EMPTY:
            assert data == b""
        elif item.kind is BadMediaKind.HTML_AS_JPEG:
            assert data.lstrip().lower().startswith(b"<!doctype html")
        else:
            assert data.startswith(b"\xff\xd8")
        # PIL's UnidentifiedImageError and its truncation error are both OSErrors.
        with pytest.raises(OSError), Image.open(io.BytesIO(data)) as img:
            img.load()


def test_manifest_json_round_trips(demo_site_root: Path, manifest: SiteManifest) -> None:
    raw = json.loads((demo_site_root / "manifest.json").read_text(encoding="utf-8"))
    assert raw["media_count"] == manifest.media_count
    assert {"url_path", "known_file", "alteration"} <= set(raw["planted"][0])
    assert SiteManifest.model_validate(raw) == manifest


def test_manifest_rejects_a_wrong_media_count(manifest: SiteManifest) -> None:
    raw = manifest.model_dump()
    raw["media_count"] += 1
    with pytest.raises(ValueError, match="media_count"):
        SiteManifest.model_validate(raw)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_the_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    args = {"pages": 4, "background_images": 10, "known": 3, "planted": 3, "seed": 11}
    generate_site(tmp_path / "a", workers=1, **args)
    generate_site(tmp_path / "b", workers=2, **args)
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert first.keys() == second.keys()
    assert first == second
    generate_site(tmp_path / "c", workers=1, **{**args, "seed": 12})
    assert _tree(tmp_path / "c")["manifest.json"] != first["manifest.json"]


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    args = {"pages": 2, "background_images": 2, "known": 1, "planted": 1, "workers": 1}
    generate_site(tmp_path, **args)
    with pytest.raises(ConfigError, match="already exists"):
        generate_site(tmp_path, **args)
    (tmp_path / "www" / "stale.txt").write_text("old")
    generate_site(tmp_path, overwrite=True, **args)
    assert not (tmp_path / "www" / "stale.txt").exists()


@pytest.mark.parametrize(
    "args",
    [{"pages": 0}, {"known": 0}, {"known": 2, "planted": 3}, {"planted": -1}, {"background_images": -1}],
)
def test_impossible_counts_are_refused(tmp_path: Path, args: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        generate_site(tmp_path, **{"pages": 2, "background_images": 2, "known": 2, "planted": 1, **args})
    assert not (tmp_path / "www").exists()


def test_full_size_demo_site_generates(tmp_path: Path) -> None:
    # The demo's default size; the time is reported, never asserted (speed lives in benchmarks/).
    start = time.perf_counter()
    manifest = generate_site(tmp_path)
    seconds = time.perf_counter() - start
    print(f"\nfull demo site: {manifest.media_count} media, {len(manifest.pages)} pages in {seconds:.1f}s")
    assert manifest.media_count == 1040
    assert len([p for p in manifest.pages if p.endswith(".html")]) == 200
    assert len(manifest.planted) == 40
    assert max(c.pdq_distance for c in manifest.planted) <= MATCH_DISTANCE

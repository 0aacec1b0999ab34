"""The survivor page in Chromium: files are hashed in the browser, only hashes leave it, and agree with orbweaver's.

One app under uvicorn and one Debian Chromium. 56 benign generated JPEGs (``orbweaver.demo.imagegen``:
seeded colour fields and shapes; quality 80-95; sides 480-1600 px; two of them stored sideways with
an EXIF orientation) are picked in the page. Every request the page makes is captured: none may be
multipart, carry more than a few kilobytes per file, or contain any run of a file's bytes. The page's
MD5 and SHA-256 must equal Python's, and its PDQ must be within 10 bits of orbweaver's hashing of
the same file (mean at most 4). A short VP9 WebM (four generated scenes, written with OpenCV) is
picked too: its digests must be exact and each frame the page samples within 10 bits of a frame
orbweaver's own video hashing samples.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Request

from hashing.base import hamming_hex
from hashing.hasher import compute_hashes
from matcher.survivors import latest_submissions
from orbweaver.demo.imagegen import generate
from tests.fixtures.webapp import ServedApp
from tests.unit.web.conftest import make_settings

pytestmark = pytest.mark.integration

COUNT = 56
SCENES = 4
SIDEWAYS = {7, 33}
"""Images stored rotated, with EXIF orientation 6 (shown upright by both the browser and orbweaver)."""


def benign_jpeg(index: int) -> bytes:
    rng = random.Random(index)
    size = (rng.randint(480, 1600), rng.randint(480, 1600))
    image = generate(31_000 + index, size)
    out = io.BytesIO()
    if index in SIDEWAYS:
        exif = Image.Exif()
        exif[0x0112] = 6
        image.transpose(Image.Transpose.ROTATE_90).save(out, "JPEG", quality=rng.randint(80, 95), exif=exif)
    else:
        image.save(out, "JPEG", quality=rng.randint(80, 95))
    return out.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("survivor-files")
    paths = []
    for index in range(COUNT):
        path = folder / f"picture-{index:02}.jpg"
        path.write_bytes(benign_jpeg(index))
        paths.append(path)
    return [*paths, benign_webm(folder / "clip.webm")]


def benign_webm(path: Path) -> Path:
    """Four one-second scenes of generated pictures, 320 x 240 at 10 frames a second, VP9 in WebM."""
    import cv2  # the hashing stage's own video reader, a test dependency already

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP90"), 10.0, (320, 240))
    assert writer.isOpened()
    for scene in range(SCENES):
        frame = np.asarray(generate(41_000 + scene, (320, 240)))[:, :, ::-1]  # OpenCV writes BGR
        for _ in range(10):
            writer.write(np.ascontiguousarray(frame))
    writer.release()
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    tmp = tmp_path_factory.mktemp("survivor-site")
    served = ServedApp(tmp, make_settings(tmp))
    served.start()
    yield served
    served.stop()


def test_files_are_hashed_in_the_browser_and_only_hashes_are_sent(chromium: Browser, site: ServedApp,
                                                                    files: list[Path]) -> None:
    page = chromium.new_context().new_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(f"{site.base_url}/survivor?lang=fr")
    page.set_input_files("#survivor-files", [str(p) for p in files])
    page.wait_for_selector("#survivor[data-state=ready]", timeout=60_000)
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        "#survivor-hashes tbody tr", "rows => rows.map(r => Object.assign({}, r.dataset))")
    assert [r["name"] for r in rows] == [p.name for p in files]
    *pictures, video = files
    *rows, clip = rows

    distances = {}
    for path, row in zip(pictures, rows, strict=True):
        data = path.read_bytes()
        assert row["md5"] == hashlib.md5(data).hexdigest(), path.name
        assert row["sha256"] == hashlib.sha256(data).hexdigest(), path.name
        (server,) = [h for h in compute_hashes(data, algorithms=["pdq"]).plain if h.algorithm == "pdq"]
        distances[path.name] = hamming_hex(row["pdq"], server.value)
    assert max(distances.values()) <= 10, distances
    mean = sum(distances.values()) / len(distances)
    assert mean <= 4, (mean, distances)

    data = video.read_bytes()
    assert (clip["md5"], clip["sha256"]) == (hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
    sampled = [h.value for h in compute_hashes(data, algorithms=["pdq"]).hashes if h.variant.startswith("frame@")]
    in_page = clip["pdq"].split()
    assert len(in_page) == SCENES and sampled
    assert all(min(hamming_hex(mine, theirs) for theirs in sampled) <= 10 for mine in in_page), (in_page, sampled)

    page.fill("#survivor-note", "found on two sites <b>since May</b>")
    page.click("#survivor-send")
    page.wait_for_selector("#survivor[data-state=sent]", timeout=10_000)
    code = page.inner_text("#survivor-code")
    [submission] = latest_submissions(site.store)
    assert (submission.code, submission.files, submission.note) == (code, COUNT + 1,
                                                                     "found on two sites <b>since May</b>")

    # Only this site was asked anything (a blob: URL is the picked video, read inside the browser), and
    # nothing asked carried a file.
    assert all(r.url.startswith((site.base_url, f"blob:{site.base_url}/")) for r in requests), {r.url for r in requests}
    posts = [r for r in requests if r.method != "GET"]
    assert [(r.method, r.url) for r in posts] == [("POST", f"{site.base_url}/survivor/hashes")]
    for request in requests:
        body = request.post_data_buffer or b""
        assert "multipart" not in (request.headers.get("content-type") or "")
        assert len(body) <= 400 * (COUNT + SCENES), (request.url, len(body))
        for path in files:
            data = path.read_bytes()
            middle = data[len(data) // 2 : len(data) // 2 + 48]
            assert middle not in body and base64.b64encode(middle)[:48] not in body, (request.url, path.name)
    page.context.close()

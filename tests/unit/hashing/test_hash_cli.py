"""The ``orbweaver hash`` command as a user runs it: one JSON object per file, errors as objects, never a crash.

Files are benign and generated here (``synthetic.photo`` in each format, a short video written
with OpenCV, broken and non-image bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import imagehash
import numpy as np
from PIL import Image

from hashing.base import hamming_hex
from tests.unit.hashing.synthetic import encode, photo

ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    return subprocess.run([ORBWEAVER, *args], capture_output=True, text=True, timeout=120, check=False, env=clean)


def records(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_every_format_gets_every_field(tmp_path: Path) -> None:
    image = photo(50, (640, 480))
    paths = []
    for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"):
        path = tmp_path / f"image.{fmt.lower()}"
        path.write_bytes(encode(image, fmt))
        paths.append(path)
    result = run("hash", "--json", *map(str, paths))
    assert result.returncode == 0, result.stderr
    got = records(result)
    assert [r["path"] for r in got] == [str(p) for p in paths]
    for path, record in zip(paths, got, strict=True):
        data = path.read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert record["md5"] == hashlib.md5(data).hexdigest()
        assert record["sha1"] == hashlib.sha1(data).hexdigest()
        assert isinstance(record["pdq"], str) and len(record["pdq"]) == 64
        assert isinstance(record["pdq_quality"], int) and 50 <= record["pdq_quality"] <= 100
        assert isinstance(record["phash"], str) and len(record["phash"]) == 16
        assert set(record) == {"path", "sha256", "md5", "sha1", "pdq", "pdq_quality", "phash"}
    # imagehash on the PNG's pixels is pHash's reference: the same hash, or within a few bits
    png = got[1]
    assert isinstance(png["phash"], str)
    assert hamming_hex(png["phash"], str(imagehash.phash(Image.open(paths[1])))) <= 4


def test_bad_files_are_error_objects_and_the_exit_status_says_so(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(encode(photo(51, (320, 240)), "JPEG", quality=90))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:400])
    html = tmp_path / "page.jpg"
    html.write_bytes(b"<!DOCTYPE html><html><body>moved</body></html>")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.jpg"
    folder = tmp_path / "folder"
    folder.mkdir()
    paths = [good, truncated, html, empty, missing, folder]
    result = run("hash", "--json", *map(str, paths))
    assert result.returncode == 1
    assert result.stderr == ""
    got = {Path(str(r["path"])).name: r for r in records(result)}
    assert list(got) == [p.name for p in paths]
    assert "error" not in got["good.jpg"]
    assert str(got["truncated.jpg"]["error"]).startswith("corrupt: ")
    assert got["truncated.jpg"]["sha256"] == hashlib.sha256(truncated.read_bytes()).hexdigest()
    assert got["page.jpg"]["error"] == "not-an-image: looks like HTML"
    assert got["empty.png"]["error"] == "empty: no bytes"
    assert got["empty.png"]["md5"] == hashlib.md5(b"").hexdigest()
    assert str(got["missing.jpg"]["error"]).startswith("unreadable: ")
    assert str(got["folder"]["error"]).startswith("unreadable: ")
    assert set(got["missing.jpg"]) == {"path", "error"}


def test_a_video_lists_its_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 240))
    for seed in (52, 53):
        bgr = np.ascontiguousarray(np.asarray(photo(seed, (320, 240)))[:, :, ::-1])
        for _ in range(20):
            writer.write(bgr)
    writer.release()
    result = run("hash", str(path))
    assert result.returncode == 0, result.stderr
    [record] = records(result)
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "pdq" not in record and "phash" not in record
    frames = record["frames"]
    assert isinstance(frames, list) and [f["at"] for f in frames][:2] == ["frame@0.0s", "frame@2.0s"]
    assert all(len(f["pdq"]) == 64 and 0 <= f["pdq_quality"] <= 100 for f in frames)


def test_no_files_prints_nothing() -> None:
    result = run("hash")
    assert result.returncode == 0 and result.stdout == ""


def test_the_plan_computes_only_what_is_printed_unless_variants_are_asked_for() -> None:
    from hashing.settings import HashingSettings
    from orbweaver.cli_hash import hash_plan

    settings = HashingSettings()
    plain = hash_plan(settings)
    assert (plain.dihedral, plain.variants) == (False, False)
    assert plain.algorithms == settings.plan().algorithms
    assert hash_plan(settings, variants=True) == settings.plan()


def test_variants_are_printed_only_with_the_flag(tmp_path: Path) -> None:
    padded = Image.new("RGB", (560, 420), (0, 0, 0))
    padded.paste(photo(52, (480, 360)), (40, 30))
    path = tmp_path / "padded.jpg"
    path.write_bytes(encode(padded, "JPEG", quality=90))
    plain, full = (records(run("hash", *flags, str(path)))[0] for flags in ([], ["--variants"]))
    assert "variants" not in plain
    assert {k: v for k, v in full.items() if k != "variants"} == plain
    assert isinstance(full["variants"], list)
    names = {(v["variant"], v["algorithm"]) for v in full["variants"]}
    assert {("trimmed", "pdq"), ("trimmed", "phash"), ("pdq-dihedral:rot90", "pdq")} <= names

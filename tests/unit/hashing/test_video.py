"""Unit tests for video hashing: sampled frames (time-based and scene changes), exact hashes, limits, bad input.

The videos are benign and made here: ``synthetic.photo`` stills, each held for a few seconds as
one "scene", written with OpenCV's ``VideoWriter`` (MPEG-4 part 2 in MP4, Motion-JPEG in AVI).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from hashing.base import hamming_hex
from hashing.decode import Deadline, DecodeFailure, MediaDecodeError
from hashing.hasher import HashPlan, compute_hashes
from hashing.video import VideoLimits, is_video, sample_frames
from tests.unit.hashing.synthetic import encode, photo

FPS = 10.0
SIZE = (320, 240)
SCENES = (31, 32, 33)


def make_video(tmp: Path, scenes: tuple[int, ...] = SCENES, seconds: float = 2.5, *, fourcc: str = "mp4v",
               suffix: str = ".mp4", size: tuple[int, int] = SIZE) -> bytes:
    path = tmp / f"v{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, size)
    assert writer.isOpened()
    for seed in scenes:
        bgr = np.ascontiguousarray(np.asarray(photo(seed, size))[:, :, ::-1])
        for _ in range(round(seconds * FPS)):
            writer.write(bgr)
    writer.release()
    return path.read_bytes()


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_video(tmp_path_factory.mktemp("video"))


def pdq_of_still(seed: int) -> str:
    return compute_hashes(encode(photo(seed, SIZE), "PNG"), algorithms=["pdq"]).plain[0].value


def test_a_video_gets_exact_hashes_and_the_pdq_of_sampled_frames(mp4: bytes) -> None:
    assert is_video(mp4)
    outcome = compute_hashes(mp4)
    assert outcome.errors == []
    assert {h.algorithm: h.value for h in outcome.plain} == {
        "md5": hashlib.md5(mp4).hexdigest(),
        "sha1": hashlib.sha1(mp4).hexdigest(),
        "sha256": hashlib.sha256(mp4).hexdigest(),
    }
    frames = [h for h in outcome.hashes if h.variant]
    assert frames and all(h.algorithm == "pdq" and h.variant.startswith("frame@") for h in frames)
    times = [float(h.variant.removeprefix("frame@").removesuffix("s")) for h in frames]
    assert times[0] == 0.0 and times == sorted(times)
    # every scene is sampled, each within the match radius of its still's PDQ
    for scene, seed in enumerate(SCENES):
        start, end = scene * 2.5, (scene + 1) * 2.5
        in_scene = [h for h, t in zip(frames, times, strict=True) if start <= t < end]
        assert in_scene, f"scene {scene} was not sampled"
        assert min(hamming_hex(h.value, pdq_of_still(seed)) for h in in_scene) <= 31
    # scene changes are caught within a quarter second, not at the next 2 s tick
    assert any(2.5 <= t <= 2.8 for t in times) and any(5.0 <= t <= 5.3 for t in times)


def test_frame_sampling_follows_its_limits(mp4: bytes) -> None:
    base = HashPlan(algorithms=("pdq",))
    # samples at 0.0 s, 2.0 s (the 2 s tick) and 2.6 s (the scene change); a sample whose hash
    # equals one already kept (a still scene) adds nothing
    capped = [h.variant for h in compute_hashes(mp4, plan=replace(base, video=VideoLimits(max_frames=3))).hashes]
    assert capped[0] == "frame@0.0s" and capped[-1] == "frame@2.6s"
    assert set(capped) <= {"frame@0.0s", "frame@2.0s", "frame@2.6s"}
    short = compute_hashes(mp4, plan=replace(base, video=VideoLimits(max_duration_s=1.9)))
    assert [h.variant for h in short.hashes] == ["frame@0.0s"]
    # scene detection off: one sample a second, 0.0 to 7.0 s
    timed = compute_hashes(mp4, plan=replace(base, video=VideoLimits(frame_interval_s=1.0, scene_threshold=2.0)))
    assert timed.errors == [] and 3 <= len(timed.hashes) <= 8
    assert {h.variant for h in timed.hashes} <= {f"frame@{t}.0s" for t in range(8)}


def test_motion_jpeg_avi_is_read_too(tmp_path: Path) -> None:
    avi = make_video(tmp_path, (34,), 1.0, fourcc="MJPG", suffix=".avi")
    outcome = compute_hashes(avi, algorithms=["md5", "pdq"])
    assert outcome.errors == []
    assert [h.variant for h in outcome.hashes] == ["", "frame@0.0s"]
    assert hamming_hex(outcome.hashes[1].value, pdq_of_still(34)) <= 31


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        pytest.param(lambda v: v[: len(v) // 2], "corrupt: MP4 signature but no readable video stream", id="truncated"),
        pytest.param(lambda v: v[:64], "corrupt: MP4 signature but no readable video stream", id="header-only"),
        pytest.param(lambda v: v[:32] + bytes(np.random.default_rng(2).bytes(4000)), "corrupt: ", id="garbage"),
    ],
)
def test_a_broken_video_is_a_per_item_error_with_its_exact_hashes(mp4: bytes, cut: object, reason: str) -> None:
    assert callable(cut)
    broken: bytes = cut(mp4)
    outcome = compute_hashes(broken)
    assert len(outcome.errors) == 1 and outcome.errors[0].startswith(reason)
    assert [h.algorithm for h in outcome.hashes] == ["md5", "sha1", "sha256"]


def test_video_limits_become_coded_errors(mp4: bytes) -> None:
    def reason(limits: VideoLimits) -> str:
        errors = compute_hashes(mp4, plan=HashPlan(video=limits)).errors
        assert len(errors) == 1
        return errors[0]

    assert reason(VideoLimits(max_bytes=1000)).startswith(f"{DecodeFailure.TOO_LARGE}: ")
    bomb = reason(VideoLimits(max_pixels=320 * 240 - 1))
    assert bomb.startswith(f"{DecodeFailure.DECOMPRESSION_BOMB}: frames of 320x240")
    assert reason(VideoLimits(time_limit_s=1e-9)).startswith(f"{DecodeFailure.TIMEOUT}: ")


def test_a_timeout_keeps_the_frames_already_sampled(mp4: bytes) -> None:
    frames = []
    deadline = Deadline(60.0)
    with pytest.raises(MediaDecodeError) as caught:
        for frame in sample_frames(mp4, VideoLimits(), deadline):
            frames.append(frame)
            deadline._end = 0.0  # spent: the next step must stop
    assert caught.value.code is DecodeFailure.TIMEOUT
    assert [f.name for f in frames] == ["frame@0.0s"]


def test_video_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        VideoLimits(max_frames=0)
    with pytest.raises(ValueError):
        VideoLimits(scene_threshold=3.0)
